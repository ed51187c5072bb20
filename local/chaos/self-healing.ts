import { PIPELINE } from '#functions/pipeline.ts';
import type { LookReport } from '#functions/supervisor/supervisor.ts';
import { stageConfigOf, stageModelsOf } from '#lib/config.ts';
import type { Stage } from '#shared/runtime-config.ts';
import type { CallRecord } from '#sim/server.ts';
import type { CheckResult } from './check-result.ts';
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

/**
 * The pause, the probes and the resume around each provider outage, judged on the run's own clock: against the
 * supervisor's looks as it recorded them, the breakers' open-since each look read, and the provider's log of the
 * calls. A busy machine makes every look, call and timer later, but never makes a look that should act not act:
 * - a stage with work in the outage is paused at the first look at which its models' breakers had been open
 *   `pauseAfterSeconds` (the supervisor's own rule), or at the look after, never before;
 * - after the outage, its model is probed at the first look a breaker cooldown after the look of the last failed
 *   probe, or the look after, and the stage resumes at the look whose probe was answered, or the look after.
 * Seconds after the outage's start and end are reported for reading, not judged.
 */
function autoPauseChecks(input: SelfHealingInput): CheckResult[] {
  const config = input.scenario.pipeline;
  const { supervisor } = config;
  const pauseAfterMs = supervisor.pauseAfterSeconds * 1000;
  const cooldownMs = config.breaker.cooldownSeconds * 1000;
  const looks = input.looks.map((look) => ({ at: Date.parse(look.at), stages: look.stages }));
  const lookAtOrAfter = (time: number) => looks.findIndex((look) => look.at >= time);
  const actionIn = (index: number, stage: Stage, kind: 'paused' | 'resumed') =>
    looks[index]?.stages.some((look) => look.stage === stage && look.actions.some((action) => action.kind === kind)) ??
    false;
  const stages = PIPELINE.stages.map((stage) => stage.name);
  const graceMs = Math.max(...stages.map((stage) => stageConfigOf(config, stage).timeoutSeconds)) * 1000;
  const outages = input.timeline.providerOutages
    .map((outage) => ({ start: input.startedAt + outage.startMs, end: input.startedAt + outage.endMs }))
    // Touching windows (a hang, then errors) are one outage to the pipeline; their timers may fire a little apart.
    .reduce<{ start: number; end: number }[]>((merged, window) => {
      const last = merged.at(-1);
      if (last !== undefined && window.start <= last.end + TOUCHING_MS) last.end = Math.max(last.end, window.end);
      else merged.push({ ...window });
      return merged;
    }, [])
    .filter((outage) => outage.end - outage.start > pauseAfterMs);

  const pauseProblems: string[] = [];
  const resumeProblems: string[] = [];
  let latestPauseLooks = 0;
  let latestResumeLooks = 0;
  let latestPauseMs = 0;
  let latestResumeMs = 0;
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
    const modelsOf = (stage: Stage) =>
      [...stageModelsOf(stageConfigOf(config, stage)), config.llm.fallbackModel].filter(
        (model): model is string => model !== undefined,
      );
    const affected = stages.filter((stage) => modelsOf(stage).some((model) => called.has(model)));
    const pauses: number[] = [];
    for (const stage of affected) {
      const from = lookAtOrAfter(outage.start);
      const paused = from < 0 ? -1 : looks.findIndex((_, index) => index >= from && actionIn(index, stage, 'paused'));
      // The first look (from the outage's start) at which the supervisor's pause rule held for the stage.
      const due = looks.findIndex((look, index) => {
        if (index < from || from < 0) return false;
        const since = look.stages.find((entry) => entry.stage === stage)?.unavailableSince;
        return since !== undefined && look.at - Date.parse(since) >= pauseAfterMs;
      });
      const pausedAt = looks[paused]?.at;
      if (pausedAt === undefined || pausedAt > outage.end) {
        pauseProblems.push(
          due < 0
            ? `${stage} never paused (its breakers were never open ${supervisor.pauseAfterSeconds} s at a look)`
            : `${stage} never paused, though due at the look of ${new Date(looks[due]?.at ?? 0).toISOString()}`,
        );
        continue;
      }
      stagesPaused += 1;
      pauses.push(pausedAt);
      latestPauseMs = Math.max(latestPauseMs, pausedAt - outage.start);
      if (due < 0 || paused < due) pauseProblems.push(`${stage} paused before its breakers were open long enough`);
      else if (paused > due + 1) pauseProblems.push(`${stage} paused ${paused - due} looks after it was due`);
      else latestPauseLooks = Math.max(latestPauseLooks, paused - due);

      // After the outage: the first answered probe of the stage's models, the model's last failure before it.
      const probe = input.calls.find(
        (call) =>
          call.caller === 'supervisor' &&
          call.status === 200 &&
          call.receivedAt >= outage.end &&
          modelsOf(stage).includes(call.model),
      );
      const resumed = looks.findIndex((_, index) => index > paused && actionIn(index, stage, 'resumed'));
      const resumedAt = looks[resumed]?.at;
      if (probe === undefined || resumedAt === undefined) {
        resumeProblems.push(`${stage} never resumed${probe === undefined ? ' (no probe answered)' : ''}`);
        continue;
      }
      latestResumeMs = Math.max(latestResumeMs, resumedAt - outage.end);
      const answeredIn = lookAtOrAfter(probe.answeredAt);
      if (resumed < answeredIn) resumeProblems.push(`${stage} resumed before a probe was answered`);
      else if (resumed > answeredIn + 1)
        resumeProblems.push(`${stage} resumed ${resumed - answeredIn} looks after its probe was answered`);
      else latestResumeLooks = Math.max(latestResumeLooks, resumed - answeredIn);
      // The breaker lets a prober in a cooldown after the last failed probe, which ended within its look: from a
      // cooldown after that look, the next look must probe (or the one after, as the looks' clock rounds).
      const lastFailure = input.calls
        .filter((call) => call.model === probe.model && call.status !== 200 && call.receivedAt < probe.receivedAt)
        .reduce<CallRecord | undefined>(
          (last, call) => (last && last.answeredAt >= call.answeredAt ? last : call),
          undefined,
        );
      const failedIn = lastFailure?.caller === 'supervisor' ? looks[lookAtOrAfter(lastFailure.answeredAt)] : undefined;
      const probeDue = failedIn === undefined ? -1 : lookAtOrAfter(failedIn.at + cooldownMs);
      const probedBy = looks[probeDue + 1]?.at ?? Number.POSITIVE_INFINITY;
      if (probeDue >= 0 && probe.receivedAt > probedBy) {
        resumeProblems.push(`${stage}'s model ${probe.model} probed later than the look after its cooldown ended`);
      }
    }
    if (affected.length > 0 && pauses.length === affected.length) {
      // Once every stage is paused and the invocations then in flight have ended, only the supervisor calls.
      const quietFrom = Math.max(...pauses) + graceMs;
      pausedSpanMs += Math.max(0, outage.end - quietFrom);
      for (const call of input.calls) {
        if (call.receivedAt < quietFrom || call.receivedAt >= outage.end) continue;
        if (call.caller === 'supervisor') probes += 1;
        else foreign += 1;
      }
    }
  }
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  return [
    {
      name: 'pausedDuringOutage',
      ok: outages.length > 0 && stagesPaused > 0 && pauseProblems.length === 0,
      observed: outages.length === 0 ? null : latestPauseLooks,
      limit: 1,
      detail:
        outages.length === 0
          ? `no provider outage longer than supervisor.pauseAfterSeconds (${supervisor.pauseAfterSeconds} s)`
          : `${stagesPaused} stage pause(s), each at the first look at which its breakers had been open ${supervisor.pauseAfterSeconds} s or the next (${latestPauseLooks} look(s) after at most; ${seconds(latestPauseMs)} after the outage began)${pauseProblems.length > 0 ? `; ${pauseProblems.join(', ')}` : ''}`,
    },
    {
      name: 'onlyProbesWhilePaused',
      ok: foreign === 0 && (pausedSpanMs < cooldownMs || probes > 0),
      observed: foreign,
      limit: 0,
      detail: `${probes} probe(s) by the supervisor and ${foreign} other call(s) reached the provider in the ${seconds(pausedSpanMs)} the stages were paused (after the invocations then in flight had ended)`,
    },
    {
      name: 'resumedAfterOutage',
      ok: outages.length > 0 && stagesPaused > 0 && resumeProblems.length === 0,
      observed: outages.length === 0 ? null : latestResumeLooks,
      limit: 1,
      detail: `every stage probed at the first look after its breaker's cooldown or the next, and resumed at the look its probe was answered or the next (${latestResumeLooks} look(s) after at most; ${seconds(latestResumeMs)} after the provider came back)${resumeProblems.length > 0 ? `; ${resumeProblems.join(', ')}` : ''}`,
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
