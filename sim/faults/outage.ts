import type { SimClock } from '../clock.ts';
import { hangUntilAborted } from '../latency.ts';
import type { CallStage } from '../pipeline.ts';
import type { FaultRecorder } from '../stats.ts';
import { openAiError } from '../wire.ts';
import type { OutageMode, OutageWindow } from './config.ts';

/**
 * Provider outages: scheduled windows in the simulator's own time, plus a switch for one that starts now.
 * During an outage every call fails with 503 at once (`error`) or is held open without an answer (`hang`).
 */

/** The body of a 503 from an overloaded or unavailable provider. */
const SERVICE_UNAVAILABLE = openAiError('The server is overloaded or not ready yet.', 'server_error');

/**
 * Which outage, if any, is on at a given time.
 * @example
 * const outages = new OutagePolicy(0, [{ startMs: 10_000, endMs: 20_000, mode: 'error' }]);
 * outages.modeAt(15_000); // 'error'
 */
export class OutagePolicy {
  readonly #startedAt: number;
  #windows: readonly OutageWindow[];
  #switched: OutageMode | undefined;

  /** @param startedAt the clock reading the windows are measured from */
  constructor(startedAt: number, windows: readonly OutageWindow[] = [], switched?: OutageMode) {
    this.#startedAt = startedAt;
    this.#windows = windows;
    this.#switched = switched;
  }

  setWindows(windows: readonly OutageWindow[] = []): void {
    this.#windows = windows;
  }

  /** Starts an outage now (or changes its mode), or ends it with `undefined`; scheduled windows still apply. */
  switchTo(mode: OutageMode | undefined): void {
    this.#switched = mode;
  }

  /** The outage on at `now`, the switched one first; undefined when the provider is up. */
  modeAt(now: number): OutageMode | undefined {
    if (this.#switched !== undefined) return this.#switched;
    const elapsed = now - this.#startedAt;
    return this.#windows.find((window) => window.startMs <= elapsed && elapsed < window.endMs)?.mode;
  }
}

/**
 * Fails every call that arrives during an outage; other calls pass through.
 * @example outageStage(new OutagePolicy(clock.now(), faults.outages), clock, stats)
 */
export function outageStage(policy: OutagePolicy, clock: SimClock, recorder: FaultRecorder): CallStage {
  return async (call, next) => {
    const mode = policy.modeAt(clock.now());
    if (mode === undefined) return next();
    recorder.duringOutage();
    if (mode === 'hang') {
      recorder.hung();
      return hangUntilAborted(call.signal);
    }
    recorder.errorServed(503);
    return { status: 503, body: SERVICE_UNAVAILABLE, headers: {} };
  };
}
