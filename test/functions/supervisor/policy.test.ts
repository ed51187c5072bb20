import { describe, expect, it } from 'vitest';
import {
  type AdaptInput,
  adaptConcurrency,
  budgetPause,
  budgetRecovered,
  providerPause,
  smallestCallNano,
  stageModels,
  verifyResume,
} from '#functions/supervisor/policy.ts';

/** The supervisor's decisions as pure functions: what each look decides from what it read. */

const MINUTE = 60_000;
const NOW = Date.parse('2026-12-03T12:00:00Z');
const STAGE = {
  model: 'gpt-4.1-mini',
  stepModels: ['gpt-4o-mini'],
  fallbackModel: 'gpt-4o-mini',
  maxConcurrency: 8,
  maxOutputTokens: 1000,
};
const PRICES = {
  'gpt-4o-mini': { inputPerMillionUsd: 0.15, outputPerMillionUsd: 0.6 },
  'gpt-4.1-mini': { inputPerMillionUsd: 0.4, outputPerMillionUsd: 1.6 },
};

describe('Function: providerPause', () => {
  it('pauses only once every model has had its breaker open for the threshold', () => {
    const models = ['a', 'b'];
    expect(providerPause(models, [NOW - 2 * MINUTE, undefined], NOW, MINUTE)).toEqual({});
    const young = providerPause(models, [NOW - 2 * MINUTE, NOW - 30_000], NOW, MINUTE);
    expect(young.reason).toBeUndefined();
    expect(young.unavailableSince).toBe(NOW - 30_000);
    const due = providerPause(models, [NOW - 2 * MINUTE, NOW - MINUTE], NOW, MINUTE);
    expect(due.reason?.kind).toBe('provider');
    expect(due.reason?.text).toContain(
      'a and b unavailable since 2026-12-03T11:58:00.000Z (breaker open 120 s, threshold 60 s)',
    );
  });
});

describe('Function: budgetPause', () => {
  const room = (roomNano: number) => ({ day: '2026-12-03', committedNano: 5e9 - roomNano, roomNano });

  it('waits one look before calling the budget spent, and pauses at the second short look', () => {
    const first = budgetPause('draft', room(10), 100, undefined, NOW, 5);
    expect(first).toEqual({ budgetShortSince: NOW });
    const second = budgetPause('draft', room(10), 100, NOW, NOW + MINUTE, 5);
    expect(second.budgetShortSince).toBe(NOW);
    expect(second.reason?.kind).toBe('budget');
    expect(second.reason?.text).toContain('the daily budget of $5 is spent for 2026-12-03');
  });

  it('clears the mark when the budget has room for the smallest call', () => {
    expect(budgetPause('draft', room(100), 100, NOW, NOW + MINUTE, 5)).toEqual({ budgetShortSince: undefined });
  });

  it('resumes a budget pause once the smallest call fits again', () => {
    expect(budgetRecovered(room(99), 100, 5)).toBeUndefined();
    expect(budgetRecovered(room(100), 100, 5)).toContain('the budget has room again');
  });
});

describe('Function: smallestCallNano', () => {
  it('prices the whole max_tokens at the cheapest model the stage may call', () => {
    expect(stageModels(STAGE)).toEqual(['gpt-4.1-mini', 'gpt-4o-mini']);
    // 1000 completion tokens at $0.60 per million.
    expect(smallestCallNano(STAGE, PRICES)).toBe(600_000);
  });
});

describe('Function: verifyResume', () => {
  const pending = { since: NOW, calls: 10 };

  it('verifies a resume by a grown call count or an empty queue, and gives up after verifyMs', () => {
    expect(verifyResume(pending, 12, { visible: 5, total: 5 }, NOW + 1000, MINUTE)).toEqual({
      kind: 'resume verified',
      detail: '2 call(s) answered since the resume',
    });
    expect(verifyResume(pending, 10, { visible: 0, total: 0 }, NOW + 1000, MINUTE)?.kind).toBe('resume verified');
    expect(verifyResume(pending, 10, { visible: 5, total: 5 }, NOW + 1000, MINUTE)).toBeUndefined();
    expect(verifyResume(pending, 10, { visible: 5, total: 7 }, NOW + MINUTE, MINUTE)).toEqual({
      kind: 'resume unverified',
      detail: 'no call answered in 60 s while 7 message(s) wait',
    });
  });
});

describe('Function: adaptConcurrency', () => {
  const input = (overrides: Partial<AdaptInput>): AdaptInput => ({
    settings: { enabled: true, decreaseFactor: 0.5, throttleRatio: 0.05, latencyFactor: 2 },
    ceiling: 8,
    current: 6,
    previous: { day: '2026-12-03', calls: 100, latencyMsTotal: 100_000, throttled: 0 },
    counters: { calls: 120, latencyMsTotal: 120_000, throttled: 0 },
    today: '2026-12-03',
    depth: { visible: 4, total: 6 },
    baselineLatencyMs: 1000,
    ...overrides,
  });

  it('adds one with healthy calls and a backlog, up to the ceiling', () => {
    expect(adaptConcurrency(input({})).next).toEqual({ value: 7, why: 'calls healthy with 4 message(s) waiting' });
    expect(adaptConcurrency(input({ current: 8 })).next).toBeUndefined();
    expect(adaptConcurrency(input({ depth: { visible: 0, total: 2 } })).next).toBeUndefined();
  });

  it('multiplies by decreaseFactor when 429s pass throttleRatio, never below 2', () => {
    const throttled = { calls: 120, latencyMsTotal: 120_000, throttled: 5 };
    expect(adaptConcurrency(input({ counters: throttled })).next).toEqual({
      value: 3,
      why: '5 of 25 calls answered 429 (20.0 %)',
    });
    expect(adaptConcurrency(input({ counters: throttled, current: 3 })).next?.value).toBe(2);
    expect(adaptConcurrency(input({ counters: throttled, current: 2 })).next).toBeUndefined();
  });

  it('cuts for latency only when it grew past the factor and by at least a second', () => {
    const slow = { calls: 120, latencyMsTotal: 100_000 + 20 * 2500, throttled: 0 };
    expect(adaptConcurrency(input({ counters: slow })).next?.why).toBe(
      'mean latency 2500 ms, 2.5× the baseline 1000 ms',
    );
    // Doubled from 10 ms to 25 ms: noise, not strain; the baseline learns it slowly.
    const noise = adaptConcurrency(
      input({ baselineLatencyMs: 10, counters: { calls: 120, latencyMsTotal: 100_000 + 20 * 25, throttled: 0 } }),
    );
    expect(noise.next?.value).toBe(7);
    expect(noise.baselineLatencyMs).toBeCloseTo(11.5);
  });

  it('learns a faster baseline quickly', () => {
    const fast = { calls: 120, latencyMsTotal: 100_000 + 20 * 200, throttled: 0 };
    expect(adaptConcurrency(input({ counters: fast })).baselineLatencyMs).toBe(600);
  });

  it('counts a new day from zero and keeps the value without calls or while disabled', () => {
    const yesterday = { day: '2026-12-02', calls: 500, latencyMsTotal: 500_000, throttled: 0 };
    expect(adaptConcurrency(input({ previous: yesterday })).next?.value).toBe(7);
    expect(
      adaptConcurrency(input({ counters: { calls: 100, latencyMsTotal: 100_000, throttled: 0 } })).next,
    ).toBeUndefined();
    expect(adaptConcurrency(input({ previous: undefined })).next).toBeUndefined();
    const disabled = input({
      settings: { enabled: false, decreaseFactor: 0.5, throttleRatio: 0.05, latencyFactor: 2 },
    });
    expect(adaptConcurrency(disabled).next).toBeUndefined();
  });
});
