import { afterEach, describe, expect, it, vi } from 'vitest';
import { ChaosTimeline } from '#local/chaos/timeline.ts';
import type { LlmSimulator, SimulatorFaults } from '#sim/server.ts';

/** A simulator that only records what the timeline switches. */
function recordingSimulator(): { simulator: LlmSimulator; outages: (string | null)[] } {
  const outages: (string | null)[] = [];
  const simulator = {
    configure: (update: SimulatorFaults) => {
      if (update.outage !== undefined) outages.push(update.outage === null ? null : update.outage.mode);
    },
  } as unknown as LlmSimulator;
  return { simulator, outages };
}

describe('Class: ChaosTimeline', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("keeps the second of two touching provider outages on when its start fires before the first one's end", () => {
    // Prepare: a clock that moves on each time it is read, so the second window's start is due a moment before
    // the first window's end (as timers due together can fire in either order under load)
    vi.useFakeTimers();
    let reads = 0;
    const now = () => Date.now() + reads++;
    const timeline = new ChaosTimeline(
      {
        memoryOutages: [],
        providerOutages: [
          { atSeconds: 1, forSeconds: 30, mode: 'hang' },
          { atSeconds: 31, forSeconds: 30, mode: 'error' },
        ],
        limitChanges: [],
      },
      now,
    );
    const { simulator, outages } = recordingSimulator();

    // Act
    timeline.start(simulator);
    vi.advanceTimersByTime(45_000);

    // Assess: the 503 window is on at 45 s
    expect(outages).toEqual(['hang', 'error']);
    expect(timeline.providerDown()).toBe(true);

    vi.advanceTimersByTime(20_000);
    expect(outages).toEqual(['hang', 'error', null]);
    timeline.stop();
  });
});
