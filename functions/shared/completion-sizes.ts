import type { Stage } from './runtime-config.ts';

/**
 * Learned `max_tokens`. Providers count a call's `max_tokens` against the tokens-per-minute limit when they admit
 * it (OpenAI documents this), so a call that asks for the configured maximum (4,096 for a draft that uses about
 * 330) takes a dozen times the limit it needs. Each answered call adds its completion size to a histogram in the
 * day's usage row (the write that counts the call anyway: no request more); a call asks for the 99th percentile
 * of its step's sizes over today and yesterday, plus {@link MARGIN}, capped by the configured maximum. Until
 * {@link MIN_ANSWERS} answers are known it asks for the maximum. An answer cut at the learned size is asked again,
 * once, at the maximum (llm-step.ts).
 *
 * The histogram's buckets are quarter powers of two (each about 19 % wider than the last), so a day's row holds
 * at most about 60 counters a step however many calls it counts, and the percentile is rounded up, never down.
 */

/** Answers of a step needed before its size is learned. */
export const MIN_ANSWERS = 20;
const QUANTILE = 0.99;
/** A fifth on top of the percentile, for the answers longer than any seen. */
const MARGIN = 1.2;
/** Below this a step asks for this: the smallest `maxOutputTokens` the config takes. */
const FLOOR = 64;
/** How long an instance reuses the histograms it read. */
const CACHE_MS = 60_000;
const DAY_MS = 86_400_000;

/** The bucket of a completion of `tokens`: the smallest k with 2^(k/4) ≥ tokens. */
export function sizeBucket(tokens: number): number {
  return Math.max(0, Math.ceil(4 * Math.log2(Math.max(1, tokens)) - 1e-9));
}

/** The largest size bucket `k` holds. */
export const bucketTop = (bucket: number): number => Math.ceil(2 ** (bucket / 4) - 1e-9);

/** Counts of answers by size bucket, per step: what a usage row keeps. */
export type SizeHistograms = Record<string, Record<string, number>>;

/** The usage-row attribute that counts a step's answers in one size bucket. */
export const sizeAttribute = (step: string, bucket: number): string => `sizes#${step}#${bucket}`;

/** The histograms kept in a usage row's attributes (inverse of {@link sizeAttribute}). */
export function histogramsOf(row: Record<string, unknown>): SizeHistograms {
  const histograms: SizeHistograms = {};
  for (const [name, count] of Object.entries(row)) {
    const match = /^sizes#(.+)#(\d+)$/.exec(name);
    if (match === null || typeof count !== 'number') continue;
    const [, step = '', bucket = '0'] = match;
    const histogram = histograms[step] ?? {};
    histogram[bucket] = (histogram[bucket] ?? 0) + count;
    histograms[step] = histogram;
  }
  return histograms;
}

/**
 * The completion limit to ask for from a histogram: the percentile's bucket top plus the margin, between the floor
 * and `configuredMax`, or `configuredMax` while too few answers are known.
 */
export function learnedLimit(histogram: Readonly<Record<string, number>> | undefined, configuredMax: number): number {
  const buckets = Object.entries(histogram ?? {})
    .map(([bucket, count]) => [Number(bucket), count] as const)
    .sort(([a], [b]) => a - b);
  const answers = buckets.reduce((sum, [, count]) => sum + count, 0);
  if (answers < MIN_ANSWERS) return configuredMax;
  let seen = 0;
  for (const [bucket, count] of buckets) {
    seen += count;
    if (seen >= QUANTILE * answers) {
      return Math.min(configuredMax, Math.max(FLOOR, Math.ceil(bucketTop(bucket) * MARGIN)));
    }
  }
  return configuredMax;
}

/** Where the day's usage rows come from (the call ledger's `usageOfDay`). */
export interface UsageRows {
  usageOfDay(day: string): Promise<readonly { stage: string; completionSizes?: SizeHistograms }[]>;
}

/**
 * A stage's learned completion limits, read from the usage rows of today and yesterday at most once a minute.
 * @example const maxTokens = await sizes.limitFor('draft', 4096);
 */
export class LearnedOutputTokens {
  readonly #ledger: UsageRows;
  readonly #stage: Stage;
  readonly #now: () => number;
  readonly #enabled: boolean;
  #cached: { at: number; histograms: Promise<SizeHistograms> } | undefined;

  constructor(ledger: UsageRows, stage: Stage, now: () => number, enabled: boolean) {
    this.#ledger = ledger;
    this.#stage = stage;
    this.#now = now;
    this.#enabled = enabled;
  }

  /** What a call of `step` asks for: its learned size, or `configuredMax` (off, too few answers, unreadable). */
  async limitFor(step: string, configuredMax: number): Promise<number> {
    if (!this.#enabled) return configuredMax;
    try {
      return learnedLimit((await this.#histograms())[step], configuredMax);
    } catch {
      // The histograms are an economy, not a guarantee: unreadable, the call asks for the maximum.
      this.#cached = undefined;
      return configuredMax;
    }
  }

  #histograms(): Promise<SizeHistograms> {
    const now = this.#now();
    if (this.#cached === undefined || now - this.#cached.at >= CACHE_MS) {
      this.#cached = { at: now, histograms: this.#read(now) };
    }
    return this.#cached.histograms;
  }

  async #read(now: number): Promise<SizeHistograms> {
    const days = [now - DAY_MS, now].map((at) => new Date(at).toISOString().slice(0, 10));
    const rows = (await Promise.all(days.map((day) => this.#ledger.usageOfDay(day)))).flat();
    const merged: SizeHistograms = {};
    for (const row of rows) {
      if (row.stage !== this.#stage) continue;
      for (const [step, histogram] of Object.entries(row.completionSizes ?? {})) {
        const into = merged[step] ?? {};
        for (const [bucket, count] of Object.entries(histogram)) into[bucket] = (into[bucket] ?? 0) + count;
        merged[step] = into;
      }
    }
    return merged;
  }
}
