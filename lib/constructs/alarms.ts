import type { AlarmBase } from 'aws-cdk-lib/aws-cloudwatch';
import type { AlarmWithAnnotation, CustomAlarmThreshold } from 'cdk-monitoring-constructs';
import * as z from 'zod';

/**
 * The stack's alarms as a catalogue: their kinds, each with its runbook section, their severities, what every
 * alarm carries (description, runbook link, kind and subject), and how a created alarm is read back. The alarms
 * themselves sit on the dashboard's metrics (lib/constructs/dashboard/), as cdk-monitoring-constructs attaches them.
 */

/**
 * Every kind of alarm, with the section of docs/runbook.md (its anchor) that says what the alarm means, how to
 * confirm it and what to do.
 */
export const RUNBOOK_SECTIONS = {
  deadLetters: 'dlq-has-messages',
  oldestMessage: 'oldest-message-too-old',
  functionErrors: 'function-errors',
  functionThrottles: 'function-throttles',
  functionDuration: 'duration-near-the-timeout',
  breakerOpen: 'breaker-open-too-long',
  secretUnavailable: 'api-key-secret-unreadable',
  budget: 'daily-budget-used',
  rebilledCalls: 're-billed-calls',
  degradedRatio: 'too-many-degraded-items',
  stagePaused: 'stage-paused',
  resumeUnverified: 'resume-not-verified',
  supervisorErrors: 'supervisor-errors',
} as const;
export type AlarmKind = keyof typeof RUNBOOK_SECTIONS;
const ALARM_KINDS = Object.keys(RUNBOOK_SECTIONS) as [AlarmKind, ...AlarmKind[]];

/** Alarms are keyed by severity: critical ones need someone now, warnings within the day. */
export const ALARM_SEVERITIES = ['Critical', 'Warning'] as const;
export type AlarmSeverity = (typeof ALARM_SEVERITIES)[number];

/** Where alarm descriptions link when no `alarms.runbookUrl` is configured: the runbook in the repository. */
export const DEFAULT_RUNBOOK_URL = 'docs/runbook.md';

/** One alarm of the stack. */
export interface ObservabilityAlarm {
  readonly kind: AlarmKind;
  readonly severity: AlarmSeverity;
  /** What it watches: a queue (`intake`, `draft`, `published`), a stage function, a dependency, or `pipeline`. */
  readonly subject: string;
  readonly alarm: AlarmBase;
}

/** What every alarm carries: its description, its runbook link, and its kind and subject for `alarms`. */
export type AlarmDescription = Pick<CustomAlarmThreshold, 'alarmDescriptionOverride' | 'runbookLink' | 'customParams'>;

/** Describes one alarm: `describe(kind, subject, description)`. */
export type DescribeAlarm = (kind: AlarmKind, subject: string, description: string) => AlarmDescription;

/**
 * The describer of the stack's alarms, linking each to its section of the runbook at `runbookUrl`.
 * @example
 * const described = alarmDescriber('docs/runbook.md');
 * described('deadLetters', 'intake', 'The intake DLQ has messages').runbookLink; // 'docs/runbook.md#dlq-has-messages'
 */
export function alarmDescriber(runbookUrl: string): DescribeAlarm {
  return (kind, subject, description) => ({
    alarmDescriptionOverride: description,
    runbookLink: `${runbookUrl}#${RUNBOOK_SECTIONS[kind]}`,
    customParams: { kind, subject },
  });
}

const alarmParamsSchema = z.object({ kind: z.enum(ALARM_KINDS), subject: z.string() });
const severitySchema = z.enum(ALARM_SEVERITIES);

/**
 * A created alarm as the stack lists it: its kind and subject (from what {@link alarmDescriber} put on it) and its
 * severity.
 * @example const alarms = monitoring.createdAlarms().map(observedAlarm);
 */
export function observedAlarm(created: AlarmWithAnnotation): ObservabilityAlarm {
  const { kind, subject } = alarmParamsSchema.parse(created.customParams);
  return { kind, subject, severity: severitySchema.parse(created.disambiguator), alarm: created.alarm };
}
