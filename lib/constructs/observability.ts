import { Duration, Stack } from 'aws-cdk-lib';
import {
  type AlarmBase,
  Color,
  ComparisonOperator,
  type Dashboard,
  type IMetric,
  MathExpression,
  TextWidget,
  TreatMissingData,
  type YAxisProps,
} from 'aws-cdk-lib/aws-cloudwatch';
import type { Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import type { Topic } from 'aws-cdk-lib/aws-sns';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import {
  type AlarmWithAnnotation,
  type CustomAlarmThreshold,
  type CustomMetric,
  DefaultDashboardFactory,
  MonitoringFacade,
  SnsAlarmActionStrategy,
} from 'cdk-monitoring-constructs';
import { Construct } from 'constructs';
import { z } from 'zod';
import type { SluiceConfig } from '#lib/config.ts';
import { MEMORY_DEPENDENCY } from '#shared/metric-catalogue.ts';
import type { Stage } from '#shared/runtime-config.ts';
import { AlarmTopic } from './alarm-topic.ts';
import { GraphSegmentMonitoring, QueueWithDlqMonitoring, StageFunctionMonitoring } from './monitoring-segments.ts';
import { type MetricWithDimensions, sluiceMetric } from './sluice-metrics.ts';

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

/** Breaker dimension value of the memory store (a model's breaker is named after the model). */
export { MEMORY_DEPENDENCY };

/** The alarm thresholds of the config. */
export type AlarmThresholds = SluiceConfig['alarms'];

/** One alarm of the stack. */
export interface ObservabilityAlarm {
  readonly kind: AlarmKind;
  readonly severity: AlarmSeverity;
  /** What it watches: a queue (`intake`, `draft`, `published`), a stage function, a dependency, or `pipeline`. */
  readonly subject: string;
  readonly alarm: AlarmBase;
}

/** A pipeline stage as the dashboard and alarms see it. */
export interface ObservedStage {
  /** The `stage` dimension of the stage's metrics. */
  readonly stage: Stage;
  /** The stage's input queue as named on the dashboard and in alarm names, e.g. `Intake`. */
  readonly queueName: string;
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
  /** The stage function; its timeout is drawn on the dashboard and bounds the duration alarm. */
  readonly function: LambdaFunction;
  /** Maximum concurrency of the function's event source (the semaphore). */
  readonly maxConcurrency: number;
  /** The stage's model. */
  readonly model: string;
}

/** The supervisor as the dashboard and alarms see it. */
export interface ObservedSupervisor {
  /** The supervisor function, whose failed invocations raise an alarm. */
  readonly function: LambdaFunction;
  /** Minutes between two scheduled invocations: the period of its alarms, which see one look per period. */
  readonly scheduleMinutes: number;
}

/** Properties of {@link Observability}. */
export interface ObservabilityProps {
  /** The stages in pipeline order. */
  readonly stages: readonly ObservedStage[];
  /** The queue the last stage publishes to, consumed outside sluice, with its DLQ. */
  readonly published: { readonly queue: IQueue; readonly deadLetterQueue: IQueue };
  /**
   * Model every stage falls back to while its own model's breaker is open.
   * @default none
   */
  readonly fallbackModel?: string;
  readonly thresholds: AlarmThresholds;
  /**
   * The supervisor, which gets the dashboard's self-healing row and its alarms.
   * @default none: no self-healing row, no supervisor alarms
   */
  readonly supervisor?: ObservedSupervisor;
  /**
   * Email address subscribed to the alarm topic.
   * @default no subscription
   */
  readonly alarmEmail?: string;
}

const COUNT_AXIS: YAxisProps = { min: 0, showUnits: false };
/** A per-widget range long enough for daily sums to read as a trend, whatever range the dashboard shows. */
const DAILY_RANGE = '-P14D';
/** CloudWatch evaluates at most one day of periods. */
const MAX_EVALUATED_MINUTES = 24 * 60;
/** Adaptive concurrency never lowers an event source's maximum concurrency below this (SQS event sources' floor). */
const MIN_EVENT_SOURCE_CONCURRENCY = 2;

const FLOW_METRICS = [
  { metric: 'ItemsReceived', title: 'Received', width: 8 },
  { metric: 'ItemsExtracted', title: 'Extracted', width: 8 },
  { metric: 'ItemsPublished', title: 'Published', width: 8 },
  { metric: 'ItemsDeadLettered', title: 'Dead-lettered', width: 8 },
  { metric: 'ItemsDegraded', title: 'Published degraded', width: 8 },
  { metric: 'StaleDeliveries', title: 'Stale deliveries (acknowledged)', width: 8 },
] as const satisfies readonly { metric: MetricWithDimensions<'stage'>; title: string; width: number }[];

const alarmParamsSchema = z.object({ kind: z.enum(ALARM_KINDS), subject: z.string() });
const severitySchema = z.enum(ALARM_SEVERITIES);

/** Alarm names allow more than construct ids and metric math ids do; model names may hold `/` or `:`. */
function nameSafe(value: string): string {
  return value.replace(/[^A-Za-z0-9._-]/g, '-');
}

function capitalized(value: string): string {
  return `${value.charAt(0).toUpperCase()}${value.slice(1)}`;
}

function unique(values: readonly (string | undefined)[]): string[] {
  return [...new Set(values.filter((value): value is string => value !== undefined))];
}

/**
 * The stack's monitoring: one CloudWatch dashboard read top-down (pipeline flow, queues, functions, LLM calls,
 * token economics, degraded and re-billed items, and the supervisor's self-healing when there is one) and the alarms, every one notifying one encrypted SNS topic and
 * linking to its runbook section. Built on the cdk-monitoring-constructs facade: it owns the dashboard, names the
 * alarms after the stack, and sets their action once.
 * @example
 * const observability = new Observability(this, 'Observability', {
 *   stages: [{ stage: 'extract', queueName: 'Intake', queue, deadLetterQueue, function: fn, maxConcurrency: 5, model }],
 *   published: { queue: published.queue, deadLetterQueue: published.deadLetterQueue },
 *   thresholds: config.alarms,
 * });
 * observability.alarmTopic.topicArn;
 */
export class Observability extends Construct {
  /** Every alarm notifies this topic, on alarm and on recovery. */
  readonly alarmTopic: Topic;
  readonly monitoring: MonitoringFacade;
  readonly dashboard: Dashboard;
  readonly alarms: readonly ObservabilityAlarm[];
  readonly #props: ObservabilityProps;
  readonly #runbookUrl: string;

  constructor(scope: Construct, id: string, props: ObservabilityProps) {
    super(scope, id);
    this.#props = props;
    this.#runbookUrl = props.thresholds.runbookUrl ?? DEFAULT_RUNBOOK_URL;
    const stack = Stack.of(this);

    this.alarmTopic = new AlarmTopic(this, 'AlarmTopic', {
      ...(props.alarmEmail === undefined ? {} : { email: props.alarmEmail }),
    }).topic;
    // The stack's only physical names, on purpose: an alarm's name is the subject of its notification and the
    // dashboard's is what an operator looks for in the console. Both derive from the stack name, unique in an account
    // and region (plus the region for the dashboard, whose names are account-wide), so they cannot collide, and
    // neither resource is ever replaced by an update.
    const dashboards = new DefaultDashboardFactory(this, 'Dashboards', {
      dashboardNamePrefix: `${stack.stackName}-${stack.region}`,
      createDashboard: true,
      createSummaryDashboard: false,
      createAlarmDashboard: false,
      detailDashboardRange: Duration.days(1),
    });
    this.monitoring = new MonitoringFacade(this, 'Monitoring', {
      alarmFactoryDefaults: {
        alarmNamePrefix: stack.stackName,
        actionsEnabled: true,
        // The one place alarm actions are set: every alarm notifies the topic when it fires and when it recovers.
        action: new SnsAlarmActionStrategy({ onAlarmTopic: this.alarmTopic, onOkTopic: this.alarmTopic }),
        datapointsToAlarm: 1,
      },
      dashboardFactory: dashboards,
    });

    this.addIntroduction();
    this.addFlowRow();
    this.addQueueRows();
    this.addFunctionRows();
    this.addLlmRow();
    this.addTokenEconomicsRow();
    this.addDegradedRow();
    if (props.supervisor !== undefined) this.addSelfHealingRow(props.supervisor);

    const dashboard = dashboards.createdDashboard();
    if (dashboard === undefined) throw new Error('the dashboard factory created no dashboard');
    this.dashboard = dashboard;
    this.alarms = this.monitoring.createdAlarms().map(observed);
  }

  /** Models each stage may call: its own and the fallback. */
  private modelsOf(stage: ObservedStage): string[] {
    return unique([stage.model, this.#props.fallbackModel]);
  }

  /** Every stage × model pair whose calls have metrics. */
  private calls(): { stage: Stage; model: string }[] {
    return this.#props.stages.flatMap((stage) => this.modelsOf(stage).map((model) => ({ stage: stage.stage, model })));
  }

  /** What every alarm carries: its description, its runbook link, and its kind and subject for `alarms`. */
  private described(
    kind: AlarmKind,
    subject: string,
    description: string,
  ): Pick<CustomAlarmThreshold, 'alarmDescriptionOverride' | 'runbookLink' | 'customParams'> {
    return {
      alarmDescriptionOverride: description,
      runbookLink: `${this.#runbookUrl}#${RUNBOOK_SECTIONS[kind]}`,
      customParams: { kind, subject },
    };
  }

  private addIntroduction(): void {
    const runbook = /^https?:/.test(this.#runbookUrl)
      ? `[the runbook](${this.#runbookUrl})`
      : `the runbook (\`${this.#runbookUrl}\` in the repository)`;
    this.monitoring.addWidget(
      new TextWidget({
        markdown: [
          '# sluice',
          'Read top-down: **pipeline flow**, **queues** and their DLQs, **functions**, **LLM calls**, **token economics**, ' +
            `**degraded and re-billed** items${this.#props.supervisor === undefined ? '' : ', **self-healing** (the supervisor)'}. Every alarm notifies the alarm topic; what each means and what to do is in ${runbook}.`,
        ].join('\n\n'),
        width: 24,
        height: 3,
      }),
      false,
      false,
    );
  }

  private addFlowRow(): void {
    const { stages } = this.#props;
    this.monitoring.addLargeHeader('Pipeline flow');
    this.monitoring.monitorCustom({
      alarmFriendlyName: 'Flow',
      humanReadableName: 'Items per stage (sum per 5 minutes)',
      metricGroups: FLOW_METRICS.map(({ metric, title, width }) => ({
        title,
        graphWidgetWidth: width,
        graphWidgetAxis: COUNT_AXIS,
        metrics: stages.map(({ stage }) => sluiceMetric(metric, { stage }, { statistic: 'Sum', label: stage })),
      })),
    });
  }

  private addQueueRows(): void {
    const { stages, published, thresholds } = this.#props;
    const ageSeconds = thresholds.oldestMessageMinutes * 60;
    this.monitoring.addLargeHeader('Queues');
    for (const stage of stages) {
      const subject = stage.queueName.toLowerCase();
      this.monitoring.addSegment(
        new QueueWithDlqMonitoring(this.monitoring, {
          queue: stage.queue,
          deadLetterQueue: stage.deadLetterQueue,
          humanReadableName: `${stage.queueName} queue (${stage.stage} stage input)`,
          alarmFriendlyName: `${stage.queueName}Queue`,
          addDeadLetterQueueMaxSizeAlarm: {
            Critical: this.deadLetterThreshold(
              subject,
              `The ${subject} DLQ has messages: items the ${stage.stage} stage dead-lettered (invalid, a permanent error, failure budget spent, waited too long) or SQS moved there after maxReceiveCount receives. They stay until redriven.`,
            ),
          },
          addQueueMaxMessageAgeAlarm: {
            Warning: {
              maxAgeInSeconds: ageSeconds,
              // SQS stops reporting an empty, idle queue: no data means nothing is waiting.
              treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
              evaluationPeriods: 1,
              ...this.described(
                'oldestMessage',
                subject,
                `The oldest message on the ${subject} queue is older than ${thresholds.oldestMessageMinutes} minutes: the ${stage.stage} stage is not keeping up or not consuming.`,
              ),
            },
          },
        }),
      );
    }
    this.monitoring.addSegment(
      new QueueWithDlqMonitoring(this.monitoring, {
        queue: published.queue,
        deadLetterQueue: published.deadLetterQueue,
        humanReadableName: 'Published queue (output, read by your consumer)',
        alarmFriendlyName: 'PublishedQueue',
        addDeadLetterQueueMaxSizeAlarm: {
          Critical: this.deadLetterThreshold(
            'published',
            'The published DLQ has messages: your consumer received published events maxReceiveCount times without deleting them. They stay until redriven.',
          ),
        },
      }),
    );
  }

  private deadLetterThreshold(subject: string, description: string) {
    return {
      // ApproximateNumberOfMessagesVisible counts every message in the DLQ however it got there; the count of
      // messages sent (NumberOfMessagesSent) misses the ones SQS moves after maxReceiveCount receives.
      maxMessageCount: 0,
      // An idle, empty queue reports nothing; a queue holding messages always reports: no data means empty.
      treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
      evaluationPeriods: 1,
      ...this.described('deadLetters', subject, description),
    };
  }

  private addFunctionRows(): void {
    const { stages, thresholds } = this.#props;
    const window = Duration.minutes(thresholds.functionErrorMinutes);
    this.monitoring.addLargeHeader('Functions');
    for (const stage of stages) {
      const timeout = stage.function.timeout ?? Duration.seconds(3);
      this.monitoring.addSegment(
        new StageFunctionMonitoring(this.monitoring, {
          lambdaFunction: stage.function,
          timeout,
          maxConcurrency: stage.maxConcurrency,
          isIterator: false,
          humanReadableName: `${capitalized(stage.stage)} function`,
          alarmFriendlyName: `${capitalized(stage.stage)}Function`,
          addFaultCountAlarm: {
            Critical: {
              maxErrorCount: 0,
              period: window,
              evaluationPeriods: 1,
              // Lambda reports Errors only for periods with invocations: no data means no failed invocation.
              treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
              ...this.described(
                'functionErrors',
                stage.stage,
                `The ${stage.stage} function failed whole invocations in the last ${thresholds.functionErrorMinutes} minutes (a crash, a timeout, an init failure): record failures are reported per item, so this is never an item's own error.`,
              ),
            },
          },
          addThrottlesCountAlarm: {
            Warning: {
              maxErrorCount: 0,
              period: window,
              evaluationPeriods: 1,
              // Throttles are reported only when they happen: no data means none.
              treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
              ...this.described(
                'functionThrottles',
                stage.stage,
                `Lambda throttled the ${stage.stage} function in the last ${thresholds.functionErrorMinutes} minutes, which its event source maximum concurrency (${stage.maxConcurrency}) should prevent: the account's concurrency is short or the reservation is below the cap.`,
              ),
            },
          },
          addLatencyP99Alarm: {
            Warning: {
              maxLatencyPercentageOfTimeout: thresholds.durationPercentOfTimeout,
              period: Duration.minutes(5),
              datapointsToAlarm: 2,
              evaluationPeriods: 3,
              // Duration exists only for periods with invocations: an idle function is not a slow one.
              treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
              ...this.described(
                'functionDuration',
                stage.stage,
                `The ${stage.stage} function's p99 duration exceeded ${thresholds.durationPercentOfTimeout}% of its ${timeout.toSeconds()} s timeout in 2 of the last 3 five-minute periods: invocations are about to time out (slow provider, hanging calls, too large batches).`,
              ),
            },
          },
        }),
      );
    }
  }

  private addLlmRow(): void {
    const { stages, thresholds } = this.#props;
    const calls = this.calls();
    const perCall = (metric: MetricWithDimensions<'call'>) =>
      calls.map(({ stage, model }) =>
        sluiceMetric(metric, { stage, model }, { statistic: 'Sum', label: `${stage} · ${model}` }),
      );
    const models = unique(stages.flatMap((stage) => this.modelsOf(stage)));
    const breakerMetrics: CustomMetric[] = [...models, MEMORY_DEPENDENCY].flatMap((dependency): CustomMetric[] => {
      const severity: AlarmSeverity = dependency === MEMORY_DEPENDENCY ? 'Warning' : 'Critical';
      const consequence =
        dependency === MEMORY_DEPENDENCY
          ? 'drafts go ahead without related items and are published degraded (NO_HISTORY)'
          : 'calls wait (or use the fallback model, if set)';
      return [
        sluiceMetric('BreakerOpened', { dependency }, { statistic: 'Sum', label: `${dependency} opened` }),
        {
          metric: sluiceMetric(
            'BreakerOpenWaits',
            { dependency },
            { statistic: 'Sum', label: `${dependency} open-waits` },
          ),
          alarmFriendlyName: `BreakerOpen-${nameSafe(dependency)}`,
          addAlarm: {
            [severity]: {
              threshold: 0,
              comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
              period: Duration.minutes(1),
              evaluationPeriods: thresholds.breakerOpenMinutes,
              datapointsToAlarm: thresholds.breakerOpenMinutes,
              // Waits are counted only when a caller finds the breaker open; a minute without one breaks the run.
              treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
              ...this.described(
                'breakerOpen',
                dependency,
                `Callers have found the ${dependency} circuit breaker open for ${thresholds.breakerOpenMinutes} consecutive minutes: ${consequence}.`,
              ),
            },
          },
        },
      ];
    });

    this.monitoring.addLargeHeader('LLM calls');
    this.monitoring.monitorCustom({
      alarmFriendlyName: 'Llm',
      humanReadableName: 'Latency, provider answers, breakers and waits by stage and model',
      metricGroups: [
        ...stages.map((stage) => ({
          title: `${capitalized(stage.stage)}: LLM latency p50 / p90 / p99 (ms)`,
          graphWidgetWidth: 12,
          graphWidgetAxis: COUNT_AXIS,
          metrics: this.modelsOf(stage).flatMap((model) =>
            (['p50', 'p90', 'p99'] as const).map((statistic) =>
              sluiceMetric('LlmLatency', { stage: stage.stage, model }, { statistic, label: `${model} ${statistic}` }),
            ),
          ),
        })),
        {
          title: '429s from the provider',
          graphWidgetWidth: 8,
          graphWidgetAxis: COUNT_AXIS,
          metrics: perCall('LlmRateLimited'),
        },
        { title: 'Failed LLM calls', graphWidgetWidth: 8, graphWidgetAxis: COUNT_AXIS, metrics: perCall('LlmErrors') },
        {
          title: 'Rate limiter waits',
          graphWidgetWidth: 8,
          graphWidgetAxis: COUNT_AXIS,
          metrics: perCall('LimiterWaits'),
        },
        {
          title: 'Breakers: opened and open-waits',
          graphWidgetWidth: 12,
          graphWidgetAxis: COUNT_AXIS,
          metrics: breakerMetrics,
        },
        {
          title: 'Calls not made: API key secret unreadable',
          graphWidgetWidth: 12,
          graphWidgetAxis: COUNT_AXIS,
          metrics: stages.map(
            ({ stage }): CustomMetric => ({
              metric: sluiceMetric('SecretUnavailable', { stage }, { statistic: 'Sum', label: stage }),
              alarmFriendlyName: `SecretUnavailable-${capitalized(stage)}`,
              addAlarm: {
                Critical: {
                  threshold: 0,
                  comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
                  period: Duration.minutes(thresholds.functionErrorMinutes),
                  evaluationPeriods: 1,
                  // Counted only when a read fails: no data is a readable secret.
                  treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
                  ...this.described(
                    'secretUnavailable',
                    stage,
                    `The ${stage} stage could not read the LLM API key secret (deleted, access denied, no key in it) in the last ${thresholds.functionErrorMinutes} minutes: its items wait, none is dead-lettered for it, until the secret is readable or they pass retry.maxDeferralHours.`,
                  ),
                },
              },
            }),
          ),
        },
        {
          title: 'Retries (failed attempts) and deferrals (waits)',
          graphWidgetWidth: 12,
          graphWidgetAxis: COUNT_AXIS,
          metrics: stages.flatMap(({ stage }) => [
            sluiceMetric('Retries', { stage }, { statistic: 'Sum', label: `${stage} retries` }),
            sluiceMetric('Deferrals', { stage }, { statistic: 'Sum', label: `${stage} deferrals` }),
          ]),
        },
      ],
    });
  }

  private addTokenEconomicsRow(): void {
    const { thresholds } = this.#props;
    const calls = this.calls();
    const daily = (metric: MetricWithDimensions<'call'>): IMetric[] =>
      calls.map(({ stage, model }) =>
        sluiceMetric(
          metric,
          { stage, model },
          { statistic: 'Sum', period: Duration.days(1), label: `${stage} · ${model}` },
        ),
      );
    const budgetUsed = sluiceMetric('BudgetUsedPercent', {}, { statistic: 'Maximum', label: 'Budget used' });
    const budgetAlarm = (threshold: number, description: string) => ({
      metric: budgetUsed,
      name: 'Used',
      threshold,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      // The share is reported after each call, and a spent budget stops the calls: keep the last state until the
      // next call reports (the next day's first call brings it back down).
      treatMissingDataOverride: TreatMissingData.IGNORE,
      ...this.described('budget', 'pipeline', description),
    });

    this.monitoring.addLargeHeader('Token economics');
    this.monitoring.addSegment(
      new GraphSegmentMonitoring(this.monitoring, {
        title: "Tokens and US dollars per day by stage and model (last 14 days); the day's budget",
        alarmFriendlyName: 'Budget',
        graphs: [
          { title: 'Prompt tokens per day', width: 6, left: daily('PromptTokens'), start: DAILY_RANGE },
          { title: 'Completion tokens per day', width: 6, left: daily('CompletionTokens'), start: DAILY_RANGE },
          {
            title: 'LLM cost per day (USD)',
            width: 6,
            left: daily('LlmCostUsd'),
            start: DAILY_RANGE,
            leftYAxis: { min: 0, label: 'USD', showUnits: false },
          },
          {
            title: 'Daily budget used (%)',
            width: 6,
            left: [budgetUsed],
            leftYAxis: { min: 0, max: 110, label: '%', showUnits: false },
            alarms: {
              Warning: budgetAlarm(
                thresholds.budgetWarningPercent,
                `LLM calls have committed ${thresholds.budgetWarningPercent}% of today's budget (dailyBudgetUsd): at 100% calls wait for the next UTC day.`,
              ),
              Critical: budgetAlarm(
                100,
                "LLM calls have committed all of today's budget (dailyBudgetUsd): items wait for the next UTC day and nothing is published until then.",
              ),
            },
          },
        ],
      }),
    );
  }

  private addDegradedRow(): void {
    const { stages, thresholds } = this.#props;
    const window = Duration.minutes(thresholds.degradedWindowMinutes);
    const summed = (metric: MetricWithDimensions<'stage'>, id: string, label: string) =>
      new MathExpression({
        expression: `SUM([${stages.map((_, index) => `${id}${index}`).join(', ')}])`,
        usingMetrics: Object.fromEntries(
          stages.map(({ stage }, index) => [`${id}${index}`, sluiceMetric(metric, { stage }, { statistic: 'Sum' })]),
        ),
        label,
        period: window,
      });
    const degradedRatio = new MathExpression({
      // Below the minimum the ratio is 0, so one degraded item of two cannot fire the alarm.
      expression: `IF(published >= ${thresholds.degradedMinPublished}, FILL(degraded, 0) / published, 0)`,
      usingMetrics: {
        published: summed('ItemsPublished', 'published', 'Published'),
        degraded: summed('ItemsDegraded', 'degraded', 'Degraded'),
      },
      label: 'Degraded / published',
      period: window,
    });
    const calls = this.calls();
    const rebilled = new MathExpression({
      expression: `SUM([${calls.map((_, index) => `rebilled${index}`).join(', ')}])`,
      usingMetrics: Object.fromEntries(
        calls.map(({ stage, model }, index) => [
          `rebilled${index}`,
          sluiceMetric('RebilledCalls', { stage, model }, { statistic: 'Sum' }),
        ]),
      ),
      label: 'All re-billed calls',
      period: Duration.minutes(5),
    });

    this.monitoring.addLargeHeader('Degraded and re-billed');
    this.monitoring.monitorCustom({
      alarmFriendlyName: 'Quality',
      humanReadableName: 'Items published degraded; LLM calls paid twice',
      metricGroups: [
        {
          title: 'Degraded items',
          graphWidgetWidth: 8,
          graphWidgetAxis: COUNT_AXIS,
          metrics: stages.map(({ stage }) =>
            sluiceMetric('ItemsDegraded', { stage }, { statistic: 'Sum', label: stage }),
          ),
        },
        {
          title: `Degraded / published (per ${thresholds.degradedWindowMinutes} minutes)`,
          graphWidgetWidth: 8,
          graphWidgetAxis: { min: 0, max: 1, showUnits: false },
          metrics: [
            {
              metric: degradedRatio,
              alarmFriendlyName: 'DegradedRatio',
              addAlarm: {
                Warning: {
                  threshold: thresholds.degradedRatio,
                  comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
                  evaluationPeriods: 1,
                  // No data means nothing was published in the window: nothing was degraded either.
                  treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
                  ...this.described(
                    'degradedRatio',
                    'pipeline',
                    `More than ${thresholds.degradedRatio * 100}% of the items published in the last ${thresholds.degradedWindowMinutes} minutes were degraded (NO_HISTORY, UNAPPROVED or REVISIONS_CUT), counted once at least ${thresholds.degradedMinPublished} were published.`,
                  ),
                },
              },
            },
          ],
        },
        {
          title: 'Re-billed calls (repeated after a crash)',
          graphWidgetWidth: 8,
          graphWidgetAxis: COUNT_AXIS,
          metrics: [
            ...calls.map(({ stage, model }) =>
              sluiceMetric('RebilledCalls', { stage, model }, { statistic: 'Sum', label: `${stage} · ${model}` }),
            ),
            {
              metric: rebilled,
              alarmFriendlyName: 'RebilledCalls',
              addAlarm: {
                Warning: {
                  threshold: 0,
                  comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
                  evaluationPeriods: 1,
                  // Re-billed calls are counted only when they happen: no data means none.
                  treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
                  ...this.described(
                    'rebilledCalls',
                    'pipeline',
                    'An LLM call was paid for twice: a crash came between its response and the ledger write, so the retry repeated it. Counted, never hidden; repeated ones point at crashes or timeouts.',
                  ),
                },
              },
            },
          ],
        },
      ],
    });
  }

  private addSelfHealingRow(supervisor: ObservedSupervisor): void {
    const { stages, thresholds } = this.#props;
    const schedule = Duration.minutes(supervisor.scheduleMinutes);
    // The supervisor reports once per scheduled invocation: an alarm period shorter than the schedule would see
    // gaps between looks as missing data.
    const pausedPeriods = Math.min(
      Math.ceil(thresholds.stagePausedMinutes / supervisor.scheduleMinutes),
      Math.floor(MAX_EVALUATED_MINUTES / supervisor.scheduleMinutes),
    );
    const failedInvocations = Math.min(
      thresholds.supervisorFailedInvocations,
      Math.floor(MAX_EVALUATED_MINUTES / supervisor.scheduleMinutes),
    );
    const models = unique(stages.flatMap((stage) => this.modelsOf(stage)));

    const paused = stages.map(
      ({ stage }): CustomMetric => ({
        metric: sluiceMetric('StagePaused', { stage }, { statistic: 'Maximum', label: stage }),
        alarmFriendlyName: `StagePaused-${stage}`,
        addAlarm: {
          Warning: {
            threshold: 1,
            comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            period: schedule,
            evaluationPeriods: pausedPeriods,
            datapointsToAlarm: pausedPeriods,
            // The supervisor reports the gauge at every look; no data means no look, which its own alarm covers.
            treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
            ...this.described(
              'stagePaused',
              stage,
              `The ${stage} stage's event source has been disabled for ${thresholds.stagePausedMinutes} minutes or more, by the supervisor (its models unavailable, or the day's budget spent) or by an operator: its items wait in its queue, nothing is lost, nothing moves.`,
            ),
          },
        },
      }),
    );
    const unverified = stages.flatMap(({ stage }): CustomMetric[] => [
      sluiceMetric('ResumeVerified', { stage }, { statistic: 'Sum', label: `${stage} verified` }),
      {
        metric: sluiceMetric('ResumeUnverified', { stage }, { statistic: 'Sum', label: `${stage} unverified` }),
        alarmFriendlyName: `ResumeUnverified-${stage}`,
        addAlarm: {
          Critical: {
            threshold: 1,
            comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluationPeriods: 1,
            // Counted only when a verify window ends without progress: no data means no failed resume.
            treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
            ...this.described(
              'resumeUnverified',
              stage,
              `The supervisor resumed the ${stage} stage, but within its verify window (supervisor.verifySeconds) the stage processed nothing while its queue held messages: the event source is enabled and the stage still does not work.`,
            ),
          },
        },
      },
    ]);
    const supervisorErrors: CustomMetric = {
      metric: supervisor.function.metricErrors({ statistic: 'Sum', label: 'Errors' }),
      alarmFriendlyName: 'SupervisorErrors',
      addAlarm: {
        Critical: {
          threshold: 0,
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          period: schedule,
          evaluationPeriods: failedInvocations,
          datapointsToAlarm: failedInvocations,
          // Lambda reports Errors only for periods with invocations: no data means no failed invocation.
          treatMissingDataOverride: TreatMissingData.NOT_BREACHING,
          ...this.described(
            'supervisorErrors',
            'supervisor',
            `The supervisor failed ${failedInvocations} scheduled invocation(s) in a row: nothing pauses, resumes, scales or re-enriches the stages, and a stage it paused stays paused (its stage-paused alarm then sees no data).`,
          ),
        },
      },
    };

    this.monitoring.addLargeHeader('Self-healing');
    this.monitoring.monitorCustom({
      alarmFriendlyName: 'SelfHealing',
      humanReadableName: "The supervisor's pauses, probes, resumes, concurrency and re-enrichment",
      metricGroups: [
        {
          title: 'Stages paused (1 = event source disabled)',
          graphWidgetWidth: 8,
          graphWidgetAxis: { min: 0, max: 1, showUnits: false },
          metrics: paused,
        },
        ...stages.map((stage) => ({
          title: `${capitalized(stage.stage)}: effective concurrency against the configured maximum`,
          graphWidgetWidth: 8,
          graphWidgetAxis: COUNT_AXIS,
          metrics: [
            sluiceMetric(
              'EffectiveConcurrency',
              { stage: stage.stage },
              { statistic: 'Minimum', label: 'Effective (lowest in the period)' },
            ),
          ],
          horizontalAnnotations: [
            { value: stage.maxConcurrency, label: `Configured maximum (${stage.maxConcurrency})`, color: Color.RED },
            { value: MIN_EVENT_SOURCE_CONCURRENCY, label: `Floor (${MIN_EVENT_SOURCE_CONCURRENCY})` },
          ],
        })),
        {
          title: 'Automatic pauses and resumes',
          graphWidgetWidth: 8,
          graphWidgetAxis: COUNT_AXIS,
          metrics: stages.flatMap(({ stage }) => [
            sluiceMetric('StageAutoPaused', { stage }, { statistic: 'Sum', label: `${stage} paused` }),
            sluiceMetric('StageAutoResumed', { stage }, { statistic: 'Sum', label: `${stage} resumed` }),
          ]),
        },
        {
          title: 'Resumes verified and unverified',
          graphWidgetWidth: 8,
          graphWidgetAxis: COUNT_AXIS,
          metrics: unverified,
        },
        {
          title: 'Probe calls and failures by model',
          graphWidgetWidth: 8,
          graphWidgetAxis: COUNT_AXIS,
          metrics: models.flatMap((dependency) => [
            sluiceMetric('ProbeCalls', { dependency }, { statistic: 'Sum', label: `${dependency} probes` }),
            sluiceMetric('ProbeFailures', { dependency }, { statistic: 'Sum', label: `${dependency} failed` }),
          ]),
        },
        {
          title: 'Items re-enriched (re-queued for a redraft with history)',
          graphWidgetWidth: 12,
          graphWidgetAxis: COUNT_AXIS,
          metrics: [sluiceMetric('ItemsReenriched', {}, { statistic: 'Sum', label: 'Re-enriched' })],
        },
        {
          title: 'Supervisor invocations, errors and throttles',
          graphWidgetWidth: 12,
          graphWidgetAxis: COUNT_AXIS,
          metrics: [
            supervisor.function.metricInvocations({ statistic: 'Sum', label: 'Invocations' }),
            supervisorErrors,
            supervisor.function.metricThrottles({ statistic: 'Sum', label: 'Throttles' }),
          ],
        },
      ],
    });
  }
}

function observed(created: AlarmWithAnnotation): ObservabilityAlarm {
  const { kind, subject } = alarmParamsSchema.parse(created.customParams);
  return { kind, subject, severity: severitySchema.parse(created.disambiguator), alarm: created.alarm };
}
