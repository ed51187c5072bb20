import type { CallRecord } from '#sim/server.ts';

/**
 * Rates read off the provider's call log: what a provider's dashboard would show. Times are milliseconds
 * since the pipeline started.
 */

export interface SteadyRate {
  /** Answered (200) calls per minute within the steady window. */
  callsPerMinute: number;
  /** Tokens per minute as the provider counts them against its TPM limit (`chargedTokens`). */
  tokensPerMinute: number;
  /** Prompt + completion tokens the answers used, per minute. */
  usedTokensPerMinute: number;
  /**
   * The window: whole minutes, starting a minute after the first answer, ending before the 90th percentile of
   * the answered calls. A provider counts per sliding minute, so the first minute's allowance is left out and
   * only whole minutes are counted: a part of a minute would credit a client that bursts at each window's edge
   * with more than the limit.
   */
  windowMs: [number, number];
  calls: number;
}

/**
 * The steady rate of `model`'s answered calls, or undefined when no whole minute follows the first one. With
 * `perMinuteLimit: false` (nothing counts per minute, e.g. a run bound by concurrency) the window is simply the
 * 10th to the 90th percentile of the answered calls.
 */
export function steadyRate(
  calls: readonly CallRecord[],
  model: string,
  options: { perMinuteLimit: boolean } = { perMinuteLimit: true },
): SteadyRate | undefined {
  const answered = calls
    .filter((call) => call.model === model && call.status === 200)
    .sort((a, b) => a.answeredAt - b.answeredAt);
  if (!options.perMinuteLimit) return percentileRate(answered);
  const firstAnswer = answered[0]?.answeredAt;
  const tail = answered[Math.ceil(answered.length * 0.9) - 1]?.answeredAt;
  if (firstAnswer === undefined || tail === undefined) return undefined;
  const from = firstAnswer + 60_000;
  const minutes = Math.floor((tail - from) / 60_000);
  if (minutes < 1) return undefined;
  const to = from + minutes * 60_000;
  const inside = answered.filter((call) => call.answeredAt > from && call.answeredAt <= to);
  return {
    callsPerMinute: inside.length / minutes,
    ...tokenRates(inside, minutes),
    windowMs: [from, to],
    calls: inside.length,
  };
}

function percentileRate(answered: readonly CallRecord[]): SteadyRate | undefined {
  const first = answered[Math.floor(answered.length * 0.1)];
  const lastIndex = Math.ceil(answered.length * 0.9) - 1;
  const last = answered[lastIndex];
  if (first === undefined || last === undefined || last.answeredAt <= first.answeredAt || answered.length < 20) {
    return undefined;
  }
  // n calls after the first of the window bound n intervals.
  const inside = answered.slice(Math.floor(answered.length * 0.1) + 1, lastIndex + 1);
  const minutes = (last.answeredAt - first.answeredAt) / 60_000;
  return {
    callsPerMinute: inside.length / minutes,
    ...tokenRates(inside, minutes),
    windowMs: [first.answeredAt, last.answeredAt],
    calls: inside.length,
  };
}

function tokenRates(calls: readonly CallRecord[], minutes: number) {
  let charged = 0;
  let used = 0;
  for (const call of calls) {
    charged += call.chargedTokens;
    used += call.promptTokens + call.completionTokens;
  }
  return { tokensPerMinute: charged / minutes, usedTokensPerMinute: used / minutes };
}

/** Mean tokens the provider charged `model`'s answered calls against its TPM limit, as it counts them. */
export function tokensPerCall(calls: readonly CallRecord[], model: string): number {
  const answered = calls.filter((call) => call.model === model && call.status === 200);
  if (answered.length === 0) return 0;
  return answered.reduce((sum, call) => sum + call.chargedTokens, 0) / answered.length;
}

/** Responses of `model` by status. */
export function statusCounts(calls: readonly CallRecord[], model?: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const call of calls) {
    if (model !== undefined && call.model !== model) continue;
    counts[call.status] = (counts[call.status] ?? 0) + 1;
  }
  return counts;
}

/**
 * Answered calls of `model` per bucket of `bucketMs`, from 0 to the last call: the rate over time, for
 * recovery times.
 */
export function rateSeries(calls: readonly CallRecord[], model: string, bucketMs: number): number[] {
  const answered = calls.filter((call) => call.model === model && call.status === 200);
  const end = Math.max(0, ...answered.map((call) => call.answeredAt));
  const series = new Array<number>(Math.floor(end / bucketMs) + 1).fill(0);
  for (const call of answered) {
    const bucket = Math.floor(call.answeredAt / bucketMs);
    series[bucket] = (series[bucket] ?? 0) + 1;
  }
  return series;
}
