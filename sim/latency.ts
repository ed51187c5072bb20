import { seededRandom } from './hash.ts';

/**
 * Simulated response latency. A fixed number, or a uniform range drawn from a seeded generator so a run
 * is repeatable. Waiting uses the global timer functions, so tests can fake time.
 */

/** Milliseconds, fixed or uniform in `[minMs, maxMs]`. */
export type LatencySpec = number | { minMs: number; maxMs: number };

/**
 * A function that gives the latency of each next call.
 * @example const next = latencySampler({ minMs: 200, maxMs: 800 }, 42); next(); // 200..800, same sequence every run
 */
export function latencySampler(spec: LatencySpec, seed: number): () => number {
  if (typeof spec === 'number') {
    assertDuration(spec, 'latencyMs');
    return () => spec;
  }
  assertDuration(spec.minMs, 'latencyMs.minMs');
  assertDuration(spec.maxMs, 'latencyMs.maxMs');
  if (spec.maxMs < spec.minMs) throw new RangeError('latencyMs.maxMs must not be less than latencyMs.minMs');
  const random = seededRandom(seed);
  return () => Math.round(spec.minMs + random() * (spec.maxMs - spec.minMs));
}

function assertDuration(value: number, name: string): void {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a finite number ≥ 0, got ${value}`);
}

/**
 * Resolves after `ms`, or rejects with the signal's reason as soon as it aborts; 0 resolves without a timer.
 * @example await delay(250, request.signal)
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
