import { DeadlineError, type FailureKind, failureKindOf } from './errors.ts';

/**
 * The one retry policy: what to do after a failure, given the whole attempt budget. Pure, so it is tested with
 * fake randomness and no clock.
 */

export interface RetrySettings {
  /** Real failed attempts per item and stage before dead-lettering. */
  maxAttempts: number;
  /** First backoff step; doubles with every failed attempt. Half of each step is always waited. */
  baseDelayMs: number;
  /** Largest backoff step; at most 900 s, the longest delay SQS gives a message handed back. */
  maxDelayMs: number;
  /** Waits up to this long happen inside the invocation; longer ones re-deliver the message later. */
  maxInProcessWaitMs: number;
}

/** How long to wait when a waiting error does not say. */
const DEFAULT_WAIT_MS = 1000;

export type Decision =
  /** Wait `delayMs` here, then try again (an attempt may have been counted). */
  | { action: 'wait-here'; delayMs: number; countsAttempt: boolean }
  /** Hand the message back to be delivered again after `delayMs`. */
  | { action: 'deliver-later'; delayMs: number; countsAttempt: boolean }
  | { action: 'dead-letter' };

/**
 * Exponential backoff with "equal jitter": half of the step min(max, base · 2^(attempt−1)) is always waited, the
 * other half is drawn at random. Full jitter (anything from 0) spreads retries a little more, but lets an unlucky
 * item spend its whole failure budget in a fraction of a second on a burst of 5xx that a real wait would have
 * outlasted; the fixed half gives every item a floor, the random half still keeps items apart.
 * @example backoffMs(3, { baseDelayMs: 1000, maxDelayMs: 60_000 }, Math.random) // somewhere in [2000, 4000]
 */
export function backoffMs(
  attempt: number,
  settings: Pick<RetrySettings, 'baseDelayMs' | 'maxDelayMs'>,
  random: () => number,
) {
  const step = Math.min(settings.maxDelayMs, settings.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  const fixed = Math.floor(step / 2);
  return fixed + Math.floor(random() * (step - fixed));
}

/**
 * @param attemptsSoFar real failed attempts already recorded for the item and stage.
 * @param remainingMs time left in the invocation that could be spent waiting here.
 */
export function decide(
  error: unknown,
  attemptsSoFar: number,
  remainingMs: number,
  settings: RetrySettings,
  random: () => number,
): Decision {
  const kind: FailureKind = failureKindOf(error);
  if (kind === 'permanent') return { action: 'dead-letter' };
  const asked = (error as { retryAfterMs?: number }).retryAfterMs;
  if (kind === 'deferred') {
    // A wait that names no time must still be a wait: re-running at once would only meet the same condition.
    const delayMs = Math.max(0, asked ?? DEFAULT_WAIT_MS);
    return placeWait(delayMs, remainingMs, settings, false, error instanceof DeadlineError);
  }
  const attempt = attemptsSoFar + 1;
  if (attempt >= settings.maxAttempts) return { action: 'dead-letter' };
  // Honour what the provider asked for, and never wait less than the jittered backoff.
  const delayMs = Math.max(asked ?? 0, backoffMs(attempt, settings, random));
  return placeWait(delayMs, remainingMs, settings, true, false);
}

function placeWait(
  delayMs: number,
  remainingMs: number,
  settings: RetrySettings,
  countsAttempt: boolean,
  noTimeLeft: boolean,
): Decision {
  if (!noTimeLeft && delayMs <= settings.maxInProcessWaitMs && delayMs < remainingMs) {
    return { action: 'wait-here', delayMs, countsAttempt };
  }
  return { action: 'deliver-later', delayMs, countsAttempt };
}
