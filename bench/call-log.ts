import type { CallRecord } from '#sim/server.ts';

/**
 * Rates read off the provider's call log: what a provider's dashboard would show. Times are milliseconds
 * since the pipeline started.
 */

export interface SteadyRate {
  /** Answered (200) calls per minute and tokens per minute within the steady window. */
  callsPerMinute: number;
  tokensPerMinute: number;
  /**
   * The window: from a minute after the first answer (once a provider's sliding minute is full, so the
   * first minute's allowance is not counted as a rate) or the 10th percentile of the answered calls, whichever
   * is later, to the 90th percentile, so ramp-up and tail are left out.
   */
  windowMs: [number, number];
  calls: number;
}

/** The steady rate of `model`'s answered calls, or undefined when too few came after the first minute. */
export function steadyRate(calls: readonly CallRecord[], model: string): SteadyRate | undefined {
  const answered = calls
    .filter((call) => call.model === model && call.status === 200)
    .sort((a, b) => a.answeredAt - b.answeredAt);
  if (answered.length < 20) return undefined;
  const firstAnswer = answered[0]?.answeredAt ?? 0;
  const afterFirstMinute = answered.findIndex((call) => call.answeredAt >= firstAnswer + 60_000);
  const first = Math.max(Math.floor(answered.length * 0.1), afterFirstMinute);
  const last = Math.ceil(answered.length * 0.9) - 1;
  if (afterFirstMinute < 0 || last - first < 20) return undefined;
  const from = answered[first]?.answeredAt ?? 0;
  const to = answered[last]?.answeredAt ?? 0;
  // Calls after the first one of the window: n calls bound n − 1 intervals.
  const inside = answered.slice(first + 1, last + 1);
  const minutes = (to - from) / 60_000;
  if (minutes <= 0) return undefined;
  return {
    callsPerMinute: inside.length / minutes,
    tokensPerMinute: inside.reduce((sum, call) => sum + call.promptTokens + call.completionTokens, 0) / minutes,
    windowMs: [from, to],
    calls: inside.length,
  };
}

/** Mean prompt + completion tokens of `model`'s answered calls. */
export function tokensPerCall(calls: readonly CallRecord[], model: string): number {
  const answered = calls.filter((call) => call.model === model && call.status === 200);
  if (answered.length === 0) return 0;
  return answered.reduce((sum, call) => sum + call.promptTokens + call.completionTokens, 0) / answered.length;
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
