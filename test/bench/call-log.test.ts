import { describe, expect, it } from 'vitest';
import type { CallRecord } from '#sim/server.ts';
import { rateSeries, statusCounts, steadyRate } from '../../bench/call-log.ts';
import { summariseProfile } from '../../bench/overhead.ts';

function call(at: number, overrides: Partial<CallRecord> = {}): CallRecord {
  return {
    model: 'm',
    receivedAt: at - 100,
    answeredAt: at,
    status: 200,
    promptTokens: 60,
    completionTokens: 40,
    chargedTokens: 100,
    ...overrides,
  };
}

describe('Function: steadyRate', () => {
  it('reads the rate of the steady part, leaving out the first minute, a slow ramp-up and tail', () => {
    // Prepare: 10 calls a second for 3 minutes, with 5 slow calls before and after
    const steady = Array.from({ length: 1800 }, (_, i) => call(10_000 + i * 100));
    const ramp = Array.from({ length: 5 }, (_, i) => call(i * 2000));
    const tail = Array.from({ length: 5 }, (_, i) => call(200_000 + i * 5000));

    // Act
    const rate = steadyRate([...tail, ...steady, ...ramp], 'm');

    // Assess
    expect(rate?.callsPerMinute).toBeCloseTo(600, 0);
    expect(rate?.tokensPerMinute).toBeCloseTo(60_000, -2);
  });

  it("counts whole minutes, so bursts at the edges of a provider's windows do not read above the limit", () => {
    // Prepare: 60 calls in the first 5 s of each minute for 4 minutes (what a window of 60 a minute lets through)
    const bursts = Array.from({ length: 240 }, (_, i) => call(Math.floor(i / 60) * 60_000 + (i % 60) * 80));

    // Act
    const rate = steadyRate(bursts, 'm');

    // Assess
    expect(rate?.callsPerMinute).toBeLessThanOrEqual(60);
  });

  it('does not count a burst the first minute allows as a rate', () => {
    // Prepare: 200 calls in the first 15 s (a limit of 200 a minute allows them), then 200 a minute for 3 minutes
    const burst = Array.from({ length: 200 }, (_, i) => call(i * 75));
    const paced = Array.from({ length: 600 }, (_, i) => call(60_000 + i * 300));

    // Act
    const rate = steadyRate([...burst, ...paced], 'm');

    // Assess
    expect(rate?.callsPerMinute).toBeCloseTo(200, 0);
  });

  it('counts only answered calls of the model asked for', () => {
    // Prepare: the same steady stream for 2 minutes, plus 429s and another model's calls in between
    const steady = Array.from({ length: 480 }, (_, i) => call(i * 500));
    const noise = Array.from({ length: 480 }, (_, i) => [
      call(i * 500 + 1, { status: 429, promptTokens: 0, completionTokens: 0 }),
      call(i * 500 + 2, { model: 'other' }),
    ]).flat();

    // Act
    const rate = steadyRate([...steady, ...noise], 'm');

    // Assess
    expect(rate?.callsPerMinute).toBeCloseTo(120, 0);
    expect(statusCounts([...steady, ...noise], 'm')).toEqual({ 200: 480, 429: 480 });
  });

  it('reads a run shorter than two minutes by percentiles when nothing counts per minute', () => {
    // Prepare: 4 calls a second for 90 s
    const steady = Array.from({ length: 360 }, (_, i) => call(i * 250));

    // Act & Assess
    expect(steadyRate(steady, 'm')).toBeUndefined();
    expect(steadyRate(steady, 'm', { perMinuteLimit: false })?.callsPerMinute).toBeCloseTo(240, 0);
  });

  it('gives no rate for too few calls to have a steady part', () => {
    expect(steadyRate([call(0), call(1000)], 'm')).toBeUndefined();
  });
});

describe('Function: rateSeries', () => {
  it('counts answered calls per bucket, with empty buckets for an outage', () => {
    // Prepare: two calls in the first 5 s, none for 10 s, one after
    const calls = [call(1000), call(4000), call(6000, { status: 503 }), call(16_000)];

    // Act & Assess
    expect(rateSeries(calls, 'm', 5000)).toEqual([2, 0, 0, 1]);
  });
});

describe('Function: summariseProfile', () => {
  it('sums self time by category and leaves idle time out of the shares', () => {
    // Prepare: 3 ms in dynalite, 1 ms in the SDK, 4 ms idle
    const profile = {
      nodes: [
        { id: 1, callFrame: { functionName: 'put', url: 'file:///p/node_modules/dynalite/db.js' } },
        { id: 2, callFrame: { functionName: 'sign', url: 'file:///p/node_modules/@smithy/core/index.js' } },
        { id: 3, callFrame: { functionName: '(idle)', url: '' } },
      ],
      samples: [1, 1, 1, 2, 3, 3, 3, 3],
      timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
    };

    // Act
    const summary = summariseProfile(profile);

    // Assess
    expect(summary.cpuMs).toBe(4);
    expect(summary.categories).toEqual([
      { category: 'DynamoDB emulator (dynalite, LevelDB)', ms: 3, share: 0.75 },
      { category: 'AWS SDK (serialize, sign, parse)', ms: 1, share: 0.25 },
    ]);
  });
});
