import { realClock, type SimClock } from './clock.ts';
import { seededRandom } from './hash.ts';

/**
 * Simulated response latency: a fixed number, a uniform range, or a lognormal distribution (the long right
 * tail real providers show), drawn from a seeded generator so a run is repeatable. Waiting goes through the
 * simulator's clock, so tests can fake time.
 */

/** A lognormal latency given by its median and 99th percentile, capped at `LOGNORMAL_CAP_FACTOR × p99Ms`. */
export interface LognormalLatency {
  distribution: 'lognormal';
  medianMs: number;
  p99Ms: number;
}

/** Milliseconds: fixed, uniform in `[minMs, maxMs]`, or lognormal. */
export type LatencySpec = number | { minMs: number; maxMs: number } | LognormalLatency;

/** The lognormal tail is cut here (as a multiple of p99), so one unlucky draw cannot stall a run for hours. */
export const LOGNORMAL_CAP_FACTOR = 4;
/** z-score of the 99th percentile of the standard normal distribution. */
const Z_99 = 2.326_347_874;

/**
 * A function that gives the latency of each next call.
 * @example const next = latencySampler({ minMs: 200, maxMs: 800 }, 42); next(); // 200..800, same sequence every run
 * @example latencySampler({ distribution: 'lognormal', medianMs: 800, p99Ms: 6000 }, 7)
 */
export function latencySampler(spec: LatencySpec, seed: number): () => number {
  if (typeof spec === 'number') {
    assertDuration(spec, 'latencyMs');
    return () => spec;
  }
  const random = seededRandom(seed);
  if ('distribution' in spec) return lognormalSampler(spec, random);
  assertDuration(spec.minMs, 'latencyMs.minMs');
  assertDuration(spec.maxMs, 'latencyMs.maxMs');
  if (spec.maxMs < spec.minMs) throw new RangeError('latencyMs.maxMs must not be less than latencyMs.minMs');
  return () => Math.round(spec.minMs + random() * (spec.maxMs - spec.minMs));
}

function lognormalSampler(spec: LognormalLatency, random: () => number): () => number {
  assertDuration(spec.medianMs, 'latencyMs.medianMs');
  assertDuration(spec.p99Ms, 'latencyMs.p99Ms');
  if (spec.medianMs <= 0) throw new RangeError('latencyMs.medianMs must be greater than 0');
  if (spec.p99Ms < spec.medianMs) throw new RangeError('latencyMs.p99Ms must not be less than latencyMs.medianMs');
  const mu = Math.log(spec.medianMs);
  const sigma = Math.log(spec.p99Ms / spec.medianMs) / Z_99;
  const cap = spec.p99Ms * LOGNORMAL_CAP_FACTOR;
  return () => {
    // Box-Muller; 1 - random() keeps the logarithm away from 0.
    const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    return Math.min(cap, Math.round(Math.exp(mu + sigma * normal)));
  };
}

function assertDuration(value: number, name: string): void {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a finite number ≥ 0, got ${value}`);
}

/**
 * Resolves after `ms` on the clock, or rejects with the signal's reason as soon as it aborts; 0 resolves
 * without a timer.
 * @example await delay(250, request.signal)
 */
export function delay(ms: number, signal?: AbortSignal, clock: SimClock = realClock): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clock.clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Waits until the signal aborts, then rejects with its reason: a call that never answers.
 * @example await hangUntilAborted(call.signal) // only a client that gives up, or stop(), ends it
 */
export function hangUntilAborted(signal: AbortSignal): Promise<never> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((_resolve, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}
