import { type FunctionConfiguration, GetFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import * as z from 'zod';
import { supervisorRuntimeConfigSchema } from '#functions/supervisor/runtime-config.ts';
import { supervisorScheduleMinutes } from '#lib/supervisor-schedule.ts';
import { errorText } from '#shared/errors.ts';
import type { Target } from './target.ts';

/**
 * Whether the supervisor is looking, for `sluice status` and the console's board. It is read from the supervisor
 * function's configuration (the look interval it runs with, its timeout, and its LastModified: when the local
 * runtime started, or its last deploy on AWS) and the time of its last look. Until its first look is due it is
 * waiting, and it is "not running" only once a look is overdue.
 */

/**
 * `off`: the stack has no supervisor (`supervisor.enabled` false); `waiting`: no look since it started, the first
 * not overdue yet; `looking`: looked since it started, the next not overdue; `overdue`: no look when one was due
 * (it is not running); `unknown`: its function could not be read (see `note`).
 */
export type SupervisorState = 'off' | 'waiting' | 'looking' | 'overdue' | 'unknown';

/** The supervisor's state, as `sluice status --json` prints it under `supervisor`. */
export interface SupervisorOutlook {
  state: SupervisorState;
  /** Seconds between two looks; null when unknown. */
  intervalSeconds: number | null;
  /** When its schedule began (ISO 8601): its function's LastModified. */
  since: string | null;
  /** Its latest look over every stage (ISO 8601); null before the first. */
  lastLookAt: string | null;
  /** When the next look is expected (the first while waiting). */
  nextLookAt: string | null;
  /** With no look by then, it is not running. */
  overdueAt: string | null;
  /** Why the state is `off` or `unknown`. */
  note?: string | undefined;
}

/** When the supervisor looks, from its function's configuration. */
export interface SupervisorSchedule {
  intervalMs: number;
  /** Longest a look may take to be recorded: the function's timeout. */
  timeoutMs: number;
  /** When its schedule began (epoch ms). */
  sinceMs: number;
  /** Invoked on an EventBridge schedule of whole minutes (AWS), rather than the local runtime's timer. */
  scheduled: boolean;
}

/** The part of the supervisor's runtime config (SLUICE_SUPERVISOR_CONFIG) that says when it looks. */
const lookIntervalSchema = z.object({ intervalMs: supervisorRuntimeConfigSchema.shape.intervalMs });

/**
 * The supervisor's schedule from its function's configuration, or why there is none to read.
 * @example const schedule = await readSupervisorSchedule(target);
 */
export async function readSupervisorSchedule(
  target: Target,
): Promise<SupervisorSchedule | { state: 'off' | 'unknown'; note: string }> {
  const functionName = target.outputs.SupervisorFunctionName;
  if (functionName === undefined || functionName === '') {
    return { state: 'off', note: 'the stack has no supervisor (supervisor.enabled is false)' };
  }
  if (target.lambda === undefined) return { state: 'unknown', note: 'no LocalLambdaEndpoint in the outputs' };
  let configuration: FunctionConfiguration;
  try {
    configuration = await target.lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }));
  } catch (error) {
    return { state: 'unknown', note: `cannot read the function ${functionName}: ${errorText(error)}` };
  }
  const sinceMs = Date.parse(configuration.LastModified ?? '');
  let config: z.infer<typeof lookIntervalSchema> | undefined;
  try {
    const parsed = lookIntervalSchema.safeParse(
      JSON.parse(configuration.Environment?.Variables?.SLUICE_SUPERVISOR_CONFIG ?? ''),
    );
    config = parsed.success ? parsed.data : undefined;
  } catch {
    config = undefined;
  }
  if (config === undefined || !Number.isFinite(sinceMs) || configuration.Timeout === undefined) {
    return { state: 'unknown', note: `the function ${functionName} has no readable SLUICE_SUPERVISOR_CONFIG` };
  }
  return {
    intervalMs: config.intervalMs,
    timeoutMs: configuration.Timeout * 1000,
    sinceMs,
    // `sluice dev --bundles` invokes the bundle on the schedule's rate too; its first look then comes within the
    // margin below, so the timer's figure is kept for every local target.
    scheduled: target.kind === 'aws',
  };
}

/**
 * The supervisor's state at `now`, given its schedule and its latest look.
 * @example
 * supervisorOutlook({ intervalMs: 60_000, timeoutMs: 90_000, sinceMs: start, scheduled: false }, undefined, start + 15_000);
 * // { state: 'waiting', nextLookAt: start + 60 s, overdueAt: start + 150 s, ... }
 */
export function supervisorOutlook(
  schedule: SupervisorSchedule,
  lastLookMs: number | undefined,
  now: number,
): SupervisorOutlook {
  const scheduleMs = supervisorScheduleMinutes(schedule.intervalMs / 1000) * 60_000;
  // The first look comes with the first scheduled invocation (AWS) or one interval after the start (the timer);
  // then one every interval, but whole minutes apart on a schedule for an interval of a minute or more.
  const firstMs = schedule.scheduled ? scheduleMs : schedule.intervalMs;
  const gapMs = schedule.scheduled && schedule.intervalMs >= 60_000 ? scheduleMs : schedule.intervalMs;
  // Overdue only once the longest wait for an invocation and a whole look (the function's timeout) have passed.
  const marginMs = Math.max(scheduleMs, schedule.intervalMs) - Math.min(firstMs, gapMs) + schedule.timeoutMs;
  // A look before the start (a restarted runtime's data, a redeploy) says nothing of this run's schedule.
  const looked = lastLookMs !== undefined && lastLookMs >= schedule.sinceMs;
  const nextMs = looked ? lastLookMs + gapMs : schedule.sinceMs + firstMs;
  const overdueMs = nextMs + marginMs;
  return {
    state: now > overdueMs ? 'overdue' : looked ? 'looking' : 'waiting',
    intervalSeconds: schedule.intervalMs / 1000,
    since: new Date(schedule.sinceMs).toISOString(),
    lastLookAt: lastLookMs === undefined ? null : new Date(lastLookMs).toISOString(),
    nextLookAt: new Date(nextMs).toISOString(),
    overdueAt: new Date(overdueMs).toISOString(),
  };
}
