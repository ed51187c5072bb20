import { DeadlineError, type FailureKind, failureKindOf } from './errors.ts';

/**
 * The one retry policy: what to do after a failure, given the whole attempt budget. Pure, so it is tested with
 * fake randomness and no clock.
 */

export interface RetrySettings {
  /** Real failed attempts per item and stage before dead-lettering. */
  maxAttempts: number;
  /** First backoff step; doubles with every failed attempt. */
  baseDelayMs: number;
  /** Largest backoff step. */
  maxDelayMs: number;
  /** Waits up to this long happen inside the invocation; longer ones re-deliver the message later. */
  maxInProcessWaitMs: number;
}

/** How long to wait when a waiting error does not say. */
export const DEFAULT_WAIT_MS = 1000;

export type Decision =
  /** Wait `delayMs` here, then try again (an attempt may have been counted). */
  | { action: 'wait-here'; delayMs: number; countsAttempt: boolean }
  /** Hand the message back to be delivered again after `delayMs`. */
  | { action: 'deliver-later'; delayMs: number; countsAttempt: boolean }
  | { action: 'dead-letter' };

/**
 * Exponential backoff with full jitter: a uniformly random wait between 0 and min(max, base · 2^(attempt−1)).
 * @example backoffMs(3, { baseDelayMs: 1000, maxDelayMs: 60_000 }, Math.random) // somewhere in [0, 4000)
 */
export function backoffMs(
  attempt: number,
  settings: Pick<RetrySettings, 'baseDelayMs' | 'maxDelayMs'>,
  random: () => number,
) {
  const ceiling = Math.min(settings.maxDelayMs, settings.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(random() * ceiling);
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
