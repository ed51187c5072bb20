/**
 * The simulator's sense of time. Everything that reads the time or waits (latency, outage windows, rate-limit
 * windows, processing time) goes through one clock, so a test can drive a whole run with a manual clock, or
 * fake the global timers, and never sleep.
 */

/** An opaque timer handle, as returned by the clock that made it. */
export type TimerHandle = unknown;

/** Time and timers; `now()` is in epoch milliseconds (or any origin, as long as it never goes back). */
export interface SimClock {
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/**
 * The real clock. It looks the global functions up on every call, so `vi.useFakeTimers()` applied after the
 * simulator started still takes effect.
 * @example startLlmSimulator({ clock: realClock })
 */
export const realClock: SimClock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  clearTimeout: (handle) => globalThis.clearTimeout(handle as ReturnType<typeof globalThis.setTimeout>),
};

/** A clock that moves only when told to. */
export interface ManualClock extends SimClock {
  /** Moves time forward, firing every timer that falls due on the way, in order. */
  advance(ms: number): void;
  /** Timers waiting to fire. */
  pendingTimers(): number;
}

interface ManualTimer {
  id: number;
  at: number;
  callback: () => void;
}

/**
 * A clock for tests: time stands still until `advance` moves it.
 * @example
 * const clock = manualClock(0);
 * const sim = await startLlmSimulator({ clock, faults: { limits: { rpm: 2 } } });
 * clock.advance(60_000); // the rate-limit window slides
 */
export function manualClock(startMs = 0): ManualClock {
  let now = startMs;
  let nextId = 1;
  let timers: ManualTimer[] = [];
  return {
    now: () => now,
    setTimeout: (callback, ms) => {
      const timer = { id: nextId++, at: now + Math.max(0, ms), callback };
      timers.push(timer);
      return timer.id;
    },
    clearTimeout: (handle) => {
      timers = timers.filter((timer) => timer.id !== handle);
    },
    advance: (ms) => {
      const target = now + Math.max(0, ms);
      for (;;) {
        const due = timers
          .filter((timer) => timer.at <= target)
          .sort((a, b) => a.at - b.at || a.id - b.id)
          .at(0);
        if (due === undefined) break;
        timers = timers.filter((timer) => timer !== due);
        now = due.at;
        due.callback();
      }
      now = target;
    },
    pendingTimers: () => timers.length,
  };
}
