import { hangUntilAborted } from '../latency.ts';
import type { CallStage } from '../pipeline.ts';
import type { FaultRecorder } from '../stats.ts';

/**
 * Calls that never answer: the connection stays open until the client gives up (its timeout or abort) or
 * the simulator stops, as with a provider that accepted the request and went silent.
 */

/**
 * Decides, call by call, whether to hang.
 * @example const hang = new HangPolicy(0.01, seededRandom(7)); hang.shouldHang();
 */
export class HangPolicy {
  #rate: number;
  readonly #random: () => number;

  constructor(rate: number, random: () => number) {
    this.#rate = rate;
    this.#random = random;
  }

  setRate(rate = 0): void {
    this.#rate = rate;
  }

  /** One draw per call, whatever the rate, so changing the rate does not shift later decisions. */
  shouldHang(): boolean {
    return this.#random() < this.#rate;
  }
}

/**
 * Holds the calls the policy picks until their client goes away.
 * @example hangStage(new HangPolicy(0.05, seededRandom(3)), stats)
 */
export function hangStage(policy: HangPolicy, recorder: FaultRecorder): CallStage {
  return async (call, next) => {
    if (!policy.shouldHang()) return next();
    recorder.hung();
    return hangUntilAborted(call.signal);
  };
}
