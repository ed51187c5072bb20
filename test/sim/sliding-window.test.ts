import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RateLimitPolicy } from '#sim/faults/rate-limit.ts';
import { SlidingWindow, WINDOW_MS } from '#sim/sliding-window.ts';
import { bruteForceMaxInWindow } from './calls.ts';

describe('Class: SlidingWindow', () => {
  describe('Method: count', () => {
    it('keeps an admission for exactly 60 seconds', () => {
      // Prepare
      const window = new SlidingWindow();

      // Act
      window.add(1_000, 10);

      // Assess
      expect(window.count(1_000 + WINDOW_MS - 1)).toBe(1);
      expect(window.tokens(1_000 + WINDOW_MS - 1)).toBe(10);
      expect(window.count(1_000 + WINDOW_MS)).toBe(0);
      expect(window.tokens(1_000 + WINDOW_MS)).toBe(0);
    });
  });

  describe('Method: waitForCount', () => {
    it('gives the time until enough of the oldest admissions have left', () => {
      // Prepare
      const window = new SlidingWindow();
      for (const at of [0, 10_000, 20_000]) window.add(at, 1);

      // Act
      const roomForOne = window.waitForCount(30_000, 2);
      const roomForTwo = window.waitForCount(30_000, 1);
      const alreadyRoom = window.waitForCount(30_000, 3);

      // Assess
      expect(roomForOne).toBe(30_000);
      expect(roomForTwo).toBe(40_000);
      expect(alreadyRoom).toBe(0);
    });
  });

  describe('Method: waitForTokens', () => {
    it('gives the time until enough tokens have left the window', () => {
      // Prepare
      const window = new SlidingWindow();
      window.add(0, 100);
      window.add(5_000, 300);
      window.add(6_000, 50);

      // Act
      const wait = window.waitForTokens(10_000, 200);

      // Assess: dropping 100 leaves 350, dropping 300 more leaves 50 ≤ 200
      expect(wait).toBe(5_000 + WINDOW_MS - 10_000);
    });
  });

  describe('Method: add', () => {
    it('stays exact over 50 000 admissions while keeping only the last minute', () => {
      // Prepare
      const window = new SlidingWindow();
      const times = Array.from({ length: 50_000 }, (_, index) => index * 3 + (index % 7 === 0 ? 500 : 0));
      times.sort((a, b) => a - b);

      // Act
      for (const at of times) window.add(at, 2);
      let start = 0;
      let expected = 0;
      for (let end = 0; end < times.length; end++) {
        while ((times[start] ?? 0) <= (times[end] ?? 0) - WINDOW_MS) start++;
        expected = Math.max(expected, end - start + 1);
      }

      // Assess
      expect(window.maxRequests).toBe(expected);
      expect(window.maxTokens).toBe(expected * 2);
      expect(window.admitted).toBe(50_000);
      const last = times.at(-1) ?? 0;
      expect(window.count(last)).toBe(times.filter((at) => at > last - WINDOW_MS).length);
    });
  });
});

interface Arrival {
  gapMs: number;
  tokens: number;
}

// Bursts, long pauses, and gaps that land exactly on the window's edge, where off-by-one mistakes live.
const gapMs = fc.oneof(
  fc.integer({ min: 0, max: 2_000 }),
  fc.integer({ min: 0, max: 70_000 }),
  fc.constantFrom(0, 1, 15_000, 30_000, 59_999, 60_000),
);
const arrivals = fc.array(fc.record({ gapMs, tokens: fc.integer({ min: 1, max: 400 }) }), {
  minLength: 1,
  maxLength: 120,
});

describe('Class: RateLimitPolicy', () => {
  describe('Method: admit', () => {
    it('never admits more than rpm requests or tpm tokens in any 60-second window, and rejects only when it must', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 12 }),
          fc.integer({ min: 400, max: 3_000 }),
          arrivals,
          (rpm, tpm, calls: Arrival[]) => {
            // Prepare
            const policy = new RateLimitPolicy({ rpm, tpm });
            const admitted: { at: number; tokens: number }[] = [];
            let now = 1_700_000_000_000;

            for (const { gapMs, tokens } of calls) {
              now += gapMs;
              const inWindow = admitted.filter((entry) => now - entry.at < WINDOW_MS);
              const used = inWindow.reduce((sum, entry) => sum + entry.tokens, 0);
              const fits = inWindow.length + 1 <= rpm && used + tokens <= tpm;

              // Act
              const decision = policy.admit('model-a', tokens, now);

              // Assess
              expect(decision.admitted).toBe(fits);
              if (decision.admitted) admitted.push({ at: now, tokens });
              else if (decision.retryAfterMs !== undefined) {
                // The wait is exact: the call fits after it (with nothing else admitted) and not a millisecond before.
                const fitsAt = (at: number): boolean => {
                  const left = inWindow.filter((entry) => at - entry.at < WINDOW_MS);
                  return left.length + 1 <= rpm && left.reduce((sum, entry) => sum + entry.tokens, 0) + tokens <= tpm;
                };
                expect(fitsAt(now + decision.retryAfterMs)).toBe(true);
                expect(fitsAt(now + decision.retryAfterMs - 1)).toBe(false);
              } else {
                expect(tokens).toBeGreaterThan(tpm);
              }
            }

            const times = admitted.map((entry) => entry.at);
            const stats = policy.stats();
            expect(stats.maxRpmInAnyWindowByModel['model-a'] ?? 0).toBe(bruteForceMaxInWindow(times));
            expect(stats.maxRpmInAnyWindow).toBeLessThanOrEqual(rpm);
            expect(stats.maxTpmInAnyWindow).toBe(
              bruteForceMaxInWindow(
                times,
                WINDOW_MS,
                admitted.map((entry) => entry.tokens),
              ),
            );
            expect(stats.maxTpmInAnyWindow).toBeLessThanOrEqual(tpm);
            expect(stats.admitted).toBe(admitted.length);
          },
        ),
        { numRuns: 300 },
      );
    });

    it('keeps a window per model and lets a per-model entry override one limit', () => {
      // Prepare
      const policy = new RateLimitPolicy({ rpm: 1, tpm: 1_000, perModel: { big: { rpm: 3 } } });

      // Act
      const small = [0, 1, 2].map((at) => policy.admit('small', 100, at).admitted);
      const big = [0, 1, 2, 3].map((at) => policy.admit('big', 100, at).admitted);
      const bigTooMany = policy.admit('big', 950, 4);

      // Assess
      expect(small).toEqual([true, false, false]);
      expect(big).toEqual([true, true, true, false]);
      expect(policy.limitsFor('big')).toEqual({ rpm: 3, tpm: 1_000 });
      expect(bigTooMany.admitted).toBe(false);
      expect(policy.stats()).toMatchObject({
        admitted: 4,
        admittedByModel: { small: 1, big: 3 },
        maxRpmInAnyWindow: 4,
        maxRpmInAnyWindowByModel: { small: 1, big: 3 },
        maxTpmInAnyWindow: 400,
      });
    });

    it('applies lower limits to the history already in the window', () => {
      // Prepare
      const policy = new RateLimitPolicy({ rpm: 10 });
      for (let at = 0; at < 5; at++) policy.admit('m', 10, at);

      // Act
      policy.setLimits({ rpm: 5 });
      const halved = policy.admit('m', 10, 10);

      // Assess
      expect(halved).toMatchObject({ admitted: false, type: 'requests', retryAfterMs: WINDOW_MS - 10 });
    });

    it('says when waiting cannot help: a call larger than the token limit', () => {
      // Prepare
      const policy = new RateLimitPolicy({ tpm: 100 });

      // Act
      const decision = policy.admit('m', 101, 0);

      // Assess
      expect(decision).toMatchObject({ admitted: false, type: 'tokens', retryAfterMs: undefined });
      expect(decision.headers['retry-after']).toBeUndefined();
      expect(decision.admitted ? '' : decision.body.error.message).toMatch(
        /^Request too large for m .* Requested 101\./,
      );
    });
  });
});
