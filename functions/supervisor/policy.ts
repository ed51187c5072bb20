import { costNanoUsd } from '#shared/call-ledger.ts';
import type { ModelPrice } from '#shared/runtime-config.ts';
import type { SupervisorAction } from './actions.ts';
import type { SupervisedStage, SupervisorRuntimeConfig } from './runtime-config.ts';

/**
 * The supervisor's decisions as pure functions of what a look read: when to pause a stage, when a paused stage's
 * budget has room again, whether a resume is verified, and the AIMD step of its event source's concurrency.
 * supervisor.ts reads the records, calls these, and carries out what they decide.
 */

/** Adaptive concurrency never goes below this: one slow call must not stall a stage. */
const MIN_CONCURRENCY = 2;
/**
 * Latency growth smaller than this is noise, not a provider under strain: a provider's calls take seconds, and a
 * few milliseconds doubled (a busy machine, a fast local server) must not cut the concurrency.
 */
const MIN_LATENCY_GROWTH_MS = 1000;
/** A look counts latency only over at least this many calls. */
const MIN_CALLS_FOR_LATENCY = 3;

/** Why the supervisor pauses a stage. */
export interface PauseReason {
  kind: 'provider' | 'budget';
  text: string;
}

/** A stage's calls and their latency today (every model it may call), and its models' 429s (ever). */
export interface StageCounters {
  calls: number;
  latencyMsTotal: number;
  throttled: number;
}

export interface QueueDepth {
  /** Messages ready to be received: a backlog. */
  visible: number;
  /** Every message in the queue: ready, in flight, delayed. */
  total: number;
}

/** The day's committed spend and what is left of the daily budget. */
export interface BudgetRoom {
  day: string;
  committedNano: number;
  roomNano: number;
}

/** Every model a stage may call: its own, its steps', the fallback; each once. */
export function stageModels(settings: SupervisedStage): string[] {
  const { model, fallbackModel, stepModels = [] } = settings;
  const models = [model, ...stepModels, fallbackModel].filter((name): name is string => name !== undefined);
  return [...new Set(models)];
}

/** The least any call of the stage reserves: no prompt, the whole max_tokens, at its cheapest model's price. */
export function smallestCallNano(settings: SupervisedStage, prices: Readonly<Record<string, ModelPrice>>): number {
  const costs = stageModels(settings).map((model) => {
    const price = prices[model];
    return price ? costNanoUsd(price, 0, settings.maxOutputTokens) : 0;
  });
  return Math.max(1, Math.min(...costs));
}

/**
 * Whether every model of the stage has had its breaker open for `pauseAfterMs`. `openSince` holds, per model,
 * since when its breaker has been open (undefined when closed). `unavailableSince` is set when all are open, so a
 * look can be judged on its own clock.
 */
export function providerPause(
  models: readonly string[],
  openSince: readonly (number | undefined)[],
  now: number,
  pauseAfterMs: number,
): { unavailableSince?: number; reason?: PauseReason } {
  if (!openSince.every((at) => at !== undefined)) return {};
  const open = openSince as readonly number[];
  const unavailableSince = Math.max(...open);
  if (!open.every((at) => now - at >= pauseAfterMs)) return { unavailableSince };
  const oldest = Math.min(...open);
  return {
    unavailableSince,
    reason: {
      kind: 'provider',
      text: `${models.join(' and ')} unavailable since ${new Date(oldest).toISOString()} (breaker open ${Math.round((now - oldest) / 1000)} s, threshold ${Math.round(pauseAfterMs / 1000)} s)`,
    },
  };
}

/**
 * Whether the budget has no room for the stage's smallest call at two looks in a row: reservations of calls in
 * flight count until they settle, so the first short look only marks the time. Returns the new mark.
 */
export function budgetPause(
  stage: string,
  room: BudgetRoom,
  smallestNano: number,
  shortSince: number | undefined,
  now: number,
  dailyBudgetUsd: number,
): { budgetShortSince: number | undefined; reason?: PauseReason } {
  if (room.roomNano >= smallestNano) return { budgetShortSince: undefined };
  if (shortSince === undefined) return { budgetShortSince: now };
  return {
    budgetShortSince: shortSince,
    reason: {
      kind: 'budget',
      text: `the daily budget of $${dailyBudgetUsd} is spent for ${room.day} ($${(room.committedNano / 1e9).toFixed(4)} committed; the smallest ${stage} call may cost $${(smallestNano / 1e9).toFixed(6)})`,
    },
  };
}

/** Why a stage paused for the budget may resume, when the budget has room for its smallest call again. */
export function budgetRecovered(room: BudgetRoom, smallestNano: number, dailyBudgetUsd: number): string | undefined {
  if (room.roomNano < smallestNano) return undefined;
  return `the budget has room again ($${(room.committedNano / 1e9).toFixed(4)} of $${dailyBudgetUsd} committed on ${room.day})`;
}

/**
 * A resume is verified once the stage's call count has grown, or its queue is empty; it fails once `verifyMs` has
 * passed without either. Returns the verdict, or undefined while it is still open.
 */
export function verifyResume(
  pending: { since: number; calls: number },
  calls: number,
  depth: QueueDepth,
  now: number,
  verifyMs: number,
): SupervisorAction | undefined {
  if (calls > pending.calls) {
    return { kind: 'resume verified', detail: `${calls - pending.calls} call(s) answered since the resume` };
  }
  if (depth.total === 0) return { kind: 'resume verified', detail: 'its queue is empty: nothing waits' };
  if (now - pending.since >= verifyMs) {
    return {
      kind: 'resume unverified',
      detail: `no call answered in ${Math.round((now - pending.since) / 1000)} s while ${depth.total} message(s) wait`,
    };
  }
  return undefined;
}

export interface AdaptInput {
  settings: SupervisorRuntimeConfig['adaptiveConcurrency'];
  /** The stage's configured maximum concurrency. */
  ceiling: number;
  /** The event source's maximum concurrency now (the ceiling when it has none). */
  current: number;
  /** The counters at the previous look, and their day. */
  previous: (StageCounters & { day: string }) | undefined;
  counters: StageCounters;
  today: string;
  depth: QueueDepth;
  baselineLatencyMs: number | undefined;
}

/**
 * AIMD on the event source's maximum concurrency: one more after a look with calls and a backlog but no sign of
 * strain, times `decreaseFactor` after a look whose 429s passed `throttleRatio` of its calls or whose mean latency
 * passed `latencyFactor` × the healthy baseline; never above the ceiling, never below 2. Returns the new value and
 * why (none to keep it), and the latency baseline after this look.
 */
export function adaptConcurrency(input: AdaptInput): {
  next?: { value: number; why: string };
  baselineLatencyMs: number | undefined;
} {
  const { settings, ceiling, current, previous, counters, depth } = input;
  const baseline = input.baselineLatencyMs;
  if (!settings.enabled || previous === undefined) return { baselineLatencyMs: baseline };
  const sameDay = previous.day === input.today;
  const calls = counters.calls - (sameDay ? previous.calls : 0);
  const latency = counters.latencyMsTotal - (sameDay ? previous.latencyMsTotal : 0);
  const throttled = Math.max(0, counters.throttled - previous.throttled);
  if (calls + throttled <= 0) return { baselineLatencyMs: baseline };

  const decrease = (why: string) => {
    const value = Math.max(MIN_CONCURRENCY, Math.floor(current * settings.decreaseFactor));
    return { ...(value < current && { next: { value, why } }), baselineLatencyMs: baseline };
  };
  const share = throttled / (calls + throttled);
  if (throttled > 0 && share > settings.throttleRatio) {
    return decrease(`${throttled} of ${calls + throttled} calls answered 429 (${(share * 100).toFixed(1)} %)`);
  }
  const mean = calls >= MIN_CALLS_FOR_LATENCY ? latency / calls : undefined;
  if (
    mean !== undefined &&
    baseline !== undefined &&
    mean > baseline * settings.latencyFactor &&
    mean - baseline >= MIN_LATENCY_GROWTH_MS
  ) {
    return decrease(
      `mean latency ${Math.round(mean)} ms, ${(mean / baseline).toFixed(1)}× the baseline ${Math.round(baseline)} ms`,
    );
  }
  // Quick to learn that calls got faster, slow to accept that they got slower.
  const learned =
    mean === undefined
      ? baseline
      : baseline === undefined
        ? mean
        : mean < baseline
          ? (mean + baseline) / 2
          : baseline * 0.9 + mean * 0.1;
  if (current < ceiling && depth.visible > 0) {
    return {
      next: { value: Math.min(ceiling, current + 1), why: `calls healthy with ${depth.visible} message(s) waiting` },
      baselineLatencyMs: learned,
    };
  }
  if (current > ceiling)
    return { next: { value: ceiling, why: `above the configured maximum ${ceiling}` }, baselineLatencyMs: learned };
  return { baselineLatencyMs: learned };
}
