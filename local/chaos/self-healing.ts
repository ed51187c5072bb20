import type { LookReport } from '#functions/supervisor/supervisor.ts';
import { STAGES, type Stage } from '#shared/runtime-config.ts';
import type { CallRecord } from '#sim/server.ts';
import type { CheckResult } from './checker.ts';
import type { Scenario } from './scenario.ts';
import type { TimelineReport } from './timeline.ts';

/**
 * The chaos checks of self-healing, from the outside: the provider's own log of the calls it saw (who called,
 * when, what it answered), the supervisor's looks, and the timeline of the faults injected.
 */

export interface SelfHealingInput {
  scenario: Scenario;
  /** When the timeline started (epoch ms): its windows are relative to it. */
  startedAt: number;
  timeline: TimelineReport;
  /** Every call the provider saw. */
  calls: readonly CallRecord[];
  /** Every look the supervisor took, in order. */
  looks: readonly LookReport[];
}

/** Slack for timers and polling on a busy machine. */
const SLACK_MS = 3000;
/** Outage windows this close are one outage (the timeline's timers fire a little late on a busy machine). */
const TOUCHING_MS = 1000;
/** The provider counts requests per minute over a sliding minute. */
const MINUTE_MS = 60_000;

/**
 * The checks the scenario's `expect` asks for: automatic pause and resume around provider outages, and the
 * provider's limit followed after it drops.
 * @example const checks = selfHealingChecks({ scenario, startedAt, timeline, calls, looks });
 */
export function selfHealingChecks(input: SelfHealingInput): CheckResult[] {
  const checks: CheckResult[] = [];
  if (input.scenario.expect.autoPause) checks.push(...autoPauseChecks(input));
  if (input.scenario.expect.limitDrop !== undefined) checks.push(...limitDropChecks(input));
  return checks;
}

/** When each stage was paused and resumed by the supervisor, in order. */
export function supervisorActions(
  looks: readonly LookReport[],
): { stage: Stage; action: 'paused' | 'resumed'; at: number }[] {
  const actions: { stage: Stage; action: 'paused' | 'resumed'; at: number }[] = [];
  for (const look of looks) {
    for (const stage of look.stages) {
      for (const action of stage.actions) {
        const kind = action.startsWith('paused:') ? 'paused' : action.startsWith('resumed:') ? 'resumed' : undefined;
        if (kind !== undefined) actions.push({ stage: stage.stage, action: kind, at: Date.parse(look.at) });
      }
    }
  }
  return actions;
}

function autoPauseChecks(input: SelfHealingInput): CheckResult[] {
  const config = input.scenario.pipeline;
  const { supervisor } = config;
  const actions = supervisorActions(input.looks);
  const pauseBoundMs =
    (supervisor.pauseAfterSeconds + supervisor.intervalSeconds + config.llm.timeoutSeconds) * 1000 + SLACK_MS;
  const resumeBoundMs =
    (config.breaker.cooldownSeconds + 2 * supervisor.intervalSeconds + config.llm.timeoutSeconds) * 1000 + SLACK_MS;
  const graceMs = Math.max(...STAGES.map((stage) => config.stages[stage].timeoutSeconds)) * 1000;
  const outages = input.timeline.providerOutages
    .map((outage) => ({ start: input.startedAt + outage.startMs, end: input.startedAt + outage.endMs }))
    // Touching windows (a hang, then errors) are one outage to the pipeline; their timers may fire a little apart.
    .reduce<{ start: number; end: number }[]>((merged, window) => {
      const last = merged.at(-1);
      if (last !== undefined && window.start <= last.end + TOUCHING_MS) last.end = Math.max(last.end, window.end);
      else merged.push({ ...window });
      return merged;
    }, [])
    .filter((outage) => outage.end - outage.start > supervisor.pauseAfterSeconds * 1000);

  let latestPause = 0;
  let latestResume = 0;
  const late: string[] = [];
  let foreign = 0;
  let probes = 0;
  let pausedSpanMs = 0;
  let stagesPaused = 0;
  for (const outage of outages) {
    // The stages that had work during the outage: those whose models were called (and failed) in it.
    const called = new Set(
      input.calls
        .filter((call) => call.caller === undefined && call.receivedAt >= outage.start && call.receivedAt < outage.end)
        .map((call) => call.model),
    );
    const affected = STAGES.filter((stage) =>
      [config.stages[stage].model, config.llm.fallbackModel].some((model) => model !== undefined && called.has(model)),
    );
    const pauses = affected.map(
      (stage) =>
        actions.find(
          (action) =>
            action.stage === stage &&
            action.action === 'paused' &&
            action.at >= outage.start &&
            action.at <= outage.end,
        )?.at,
    );
    const resumes = affected.map(
      (stage) =>
        actions.find((action) => action.stage === stage && action.action === 'resumed' && action.at >= outage.end)?.at,
    );
    for (const [index, stage] of affected.entries()) {
      const pausedAt = pauses[index];
      const resumedAt = resumes[index];
      if (pausedAt === undefined) late.push(`${stage} never paused`);
      else stagesPaused += 1;
      if (pausedAt !== undefined) latestPause = Math.max(latestPause, pausedAt - outage.start);
      if (resumedAt === undefined) late.push(`${stage} never resumed`);
      else latestResume = Math.max(latestResume, resumedAt - outage.end);
    }
    const defined = pauses.filter((at): at is number => at !== undefined);
    if (affected.length > 0 && defined.length === affected.length) {
      // Once every stage is paused and the invocations then in flight have ended, only the supervisor calls.
      const quietFrom = Math.max(...defined) + graceMs;
      pausedSpanMs += Math.max(0, outage.end - quietFrom);
      for (const call of input.calls) {
        if (call.receivedAt < quietFrom || call.receivedAt >= outage.end) continue;
        if (call.caller === 'supervisor') probes += 1;
        else foreign += 1;
      }
    }
  }
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const neverResumed = late.filter((text) => text.endsWith('resumed'));
  return [
    {
      name: 'pausedDuringOutage',
      ok:
        outages.length > 0 &&
        stagesPaused > 0 &&
        late.filter((text) => text.endsWith('paused')).length === 0 &&
        latestPause <= pauseBoundMs,
      observed: outages.length === 0 ? null : latestPause / 1000,
      limit: pauseBoundMs / 1000,
      detail:
        outages.length === 0
          ? `no provider outage longer than supervisor.pauseAfterSeconds (${supervisor.pauseAfterSeconds} s)`
          : `${stagesPaused} stage pause(s), every stage with work paused ${seconds(latestPause)} after the outage began at the latest (threshold ${supervisor.pauseAfterSeconds} s + a look + a call timeout)${late.length > 0 ? `; ${late.join(', ')}` : ''}`,
    },
    {
      name: 'onlyProbesWhilePaused',
      ok: foreign === 0 && (pausedSpanMs < config.breaker.cooldownSeconds * 1000 || probes > 0),
      observed: foreign,
      limit: 0,
      detail: `${probes} probe(s) by the supervisor and ${foreign} other call(s) reached the provider in the ${seconds(pausedSpanMs)} the stages were paused (after the invocations then in flight had ended)`,
    },
    {
      name: 'resumedAfterOutage',
      ok:
        outages.length > 0 &&
        late.filter((text) => text.endsWith('resumed')).length === 0 &&
        latestResume <= resumeBoundMs,
      observed: outages.length === 0 ? null : latestResume / 1000,
      limit: resumeBoundMs / 1000,
      detail: `every stage resumed ${seconds(latestResume)} after the provider came back at the latest (a cooldown, two looks and a probe)${neverResumed.length > 0 ? `; ${neverResumed.join(', ')}` : ''}`,
    },
  ];
}

function limitDropChecks(input: SelfHealingInput): CheckResult[] {
  const { scenario } = input;
  const expect = scenario.expect.limitDrop;
  const change = input.timeline.limitChanges.at(-1);
  const planned = scenario.limitChanges.at(-1);
  if (expect === undefined || change === undefined || planned === undefined) {
    return [
      { name: 'limitDropFollowed', ok: false, observed: null, limit: null, detail: 'the limit change never happened' },
    ];
  }
  const before = scenario.limitChanges.at(-2)?.limits ?? scenario.simulator.faults.limits ?? {};
  const droppedAt = input.startedAt + change.atMs;
  const checks: CheckResult[] = [];
  for (const [model, limits] of Object.entries(planned.limits.perModel ?? {})) {
    const rpm = limits.rpm;
    const previous = before.perModel?.[model]?.rpm ?? before.rpm;
    if (rpm === undefined || (previous !== undefined && rpm >= previous)) continue;
    const after = input.calls.filter(
      (call) => call.model === model && call.caller === undefined && call.receivedAt >= droppedAt,
    );
    const limited = after.filter((call) => call.status === 429).length;
    const share = after.length === 0 ? 0 : (100 * limited) / after.length;
    checks.push({
      name: `rateLimitedAfterDrop ${model}`,
      ok: after.length > 0 && share <= expect.max429Percent,
      observed: Number(share.toFixed(2)),
      limit: expect.max429Percent,
      detail: `${limited} of ${after.length} calls to ${model} answered 429 after its limit dropped to ${rpm} rpm`,
    });
    // The provider's sliding minute still holds calls made under the old limit for a minute after the drop.
    const answered = after
      .filter((call) => call.status === 200 && call.receivedAt >= droppedAt + MINUTE_MS)
      .map((call) => call.receivedAt)
      .sort((a, b) => a - b);
    const first = answered[0];
    const last = answered.at(-1);
    const spanMs = first === undefined || last === undefined ? 0 : last - first;
    const perMinute = spanMs > 0 ? ((answered.length - 1) * MINUTE_MS) / spanMs : 0;
    const percent = (100 * perMinute) / rpm;
    checks.push({
      name: `throughputAfterDrop ${model}`,
      ok: spanMs >= MINUTE_MS && percent >= expect.minThroughputPercent,
      observed: Number(percent.toFixed(1)),
      limit: expect.minThroughputPercent,
      detail:
        spanMs >= MINUTE_MS
          ? `${answered.length} calls answered over ${(spanMs / 1000).toFixed(0)} s from a minute after the drop: ${perMinute.toFixed(1)} per minute of the new ${rpm}`
          : `only ${(spanMs / 1000).toFixed(0)} s of answered calls from a minute after the drop: the scenario needs items for at least a minute more`,
    });
  }
  return checks;
}
