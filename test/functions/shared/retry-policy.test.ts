import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '#lib/config.ts';
import { runtimeConfigFor } from '#lib/runtime-configs.ts';
import { cdkJsonContext } from '#lib/template.ts';
import {
  BreakerOpenError,
  BudgetExhaustedError,
  DeadlineError,
  InvalidItemError,
  InvalidOutputError,
  ItemBudgetExceededError,
  LeaseHeldError,
  LlmCallError,
  RateLimitedError,
  SecretUnavailableError,
  StateConflictError,
} from '#shared/errors.ts';
import { backoffMs, decide, type RetrySettings } from '#shared/retry-policy.ts';
import type { RuntimeConfig } from '#shared/runtime-config.ts';

const settings: RetrySettings = { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 60_000, maxInProcessWaitMs: 5000 };
/** Plenty of time left in the invocation. */
const LOTS_OF_TIME = 600_000;
/** A random source that always gives the top of the jitter range, so waits are as long as they can be. */
const highest = () => 0.999_999;
const lowest = () => 0;
/** A fraction in [0, 1), as Math.random gives. */
const fraction = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });

function retrySettingsOf(config: RuntimeConfig): RetrySettings {
  return { maxAttempts: config.maxAttempts, ...config.retry };
}

const serverError = (retryAfterMs?: number) =>
  new LlmCallError('provider failed', { status: 503, retryable: true, retryAfterMs });

describe('Function: backoffMs', () => {
  it('waits at least half and less than all of min(max, base · 2^(n−1)) for any attempt and any random value', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 80 }),
        fc.integer({ min: 1, max: 600_000 }),
        fc.integer({ min: 1, max: 900_000 }),
        fraction,
        (attempt, baseDelayMs, maxDelayMs, random) => {
          // Act
          const wait = backoffMs(attempt, { baseDelayMs, maxDelayMs }, () => random);

          // Assess
          const step = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
          expect(wait).toBeGreaterThanOrEqual(Math.floor(step / 2));
          expect(wait).toBeLessThanOrEqual(step);
          expect(Number.isInteger(wait)).toBe(true);
        },
      ),
    );
  });

  it('waits half the step even when the random source gives 0', () => {
    // Act
    const floors = [1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => backoffMs(attempt, settings, lowest));

    // Assess
    expect(floors).toEqual([500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  });

  it('doubles its step with every attempt until the maximum', () => {
    // Act
    const steps = [1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => backoffMs(attempt, settings, highest) + 1);

    // Assess
    expect(steps).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000]);
  });

  it('spreads waits over the upper half of the step, so retries of many items do not arrive together', () => {
    // Prepare
    const step = Math.min(settings.maxDelayMs, settings.baseDelayMs * 2 ** 4);

    // Act
    const waits = Array.from({ length: 1000 }, () => backoffMs(5, settings, Math.random));

    // Assess
    expect(waits.filter((wait) => wait < step * 0.625).length).toBeGreaterThan(100);
    expect(waits.filter((wait) => wait > step * 0.875).length).toBeGreaterThan(100);
    expect(new Set(waits).size).toBeGreaterThan(500);
  });
});

describe('Function: decide, with the default settings', () => {
  /** The retry settings a stage function gets from the defaults, and from the repository's cdk.json. */
  const deployed: [string, RetrySettings][] = [
    ['lib/config.ts defaults', retrySettingsOf(runtimeConfigFor(loadConfig({}), 'extract'))],
    ['cdk.json', retrySettingsOf(runtimeConfigFor(loadConfig(cdkJsonContext().sluice), 'draft'))],
  ];

  it.each(deployed)(
    'cannot spend maxAttempts on back-to-back failures in under 10 s, whatever the random source (%s)',
    (_name, defaults) => {
      fc.assert(
        fc.property(fc.array(fraction, { minLength: 100, maxLength: 100 }), (draws) => {
          // Prepare: failures that come back at once, each answered the moment its wait ends
          const random = () => draws.shift() ?? 0;
          let waited = 0;
          let attemptsSoFar = 0;

          // Act
          for (;;) {
            const decision = decide(serverError(), attemptsSoFar, LOTS_OF_TIME, defaults, random);
            if (decision.action === 'dead-letter') break;
            waited += decision.delayMs;
            attemptsSoFar += 1;
          }

          // Assess
          expect(attemptsSoFar + 1).toBe(defaults.maxAttempts);
          expect(waited).toBeGreaterThanOrEqual(10_000);
        }),
        { examples: [[Array.from({ length: 100 }, () => 0)]] },
      );
    },
  );
});

describe('Function: decide', () => {
  describe('permanent errors', () => {
    const permanent: [string, Error][] = [
      ...[400, 401, 403, 404, 422].map((status): [string, Error] => [
        `LlmCallError ${status}`,
        new LlmCallError(`status ${status}`, { status, retryable: false }),
      ]),
      ['InvalidItemError', new InvalidItemError('no body')],
      ['ItemBudgetExceededError', new ItemBudgetExceededError('too many tokens')],
    ];

    it.each(permanent)('dead-letters a %s at once, whatever the attempt and the time left', (_name, error) => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: settings.maxAttempts - 1 }), fc.nat(LOTS_OF_TIME), (attempts, time) => {
          // Act
          const decision = decide(error, attempts, time, settings, Math.random);

          // Assess
          expect(decision).toEqual({ action: 'dead-letter' });
        }),
      );
    });
  });

  describe('retryable errors', () => {
    it('waits here, counting the attempt, when the backoff is short and the invocation has time', () => {
      // Act
      const decision = decide(serverError(), 0, LOTS_OF_TIME, settings, highest);

      // Assess
      expect(decision).toEqual({ action: 'wait-here', delayMs: 999, countsAttempt: true });
    });

    it('hands the message back, counting the attempt, when the backoff is longer than an in-process wait', () => {
      // Prepare: the second failure of an item whose backoff ceiling is 60 s
      const slow = { ...settings, baseDelayMs: 30_000 };

      // Act
      const decision = decide(serverError(), 1, LOTS_OF_TIME, slow, highest);

      // Assess
      expect(decision.action).toBe('deliver-later');
      expect(decision).toMatchObject({ countsAttempt: true });
      if (decision.action === 'deliver-later') expect(decision.delayMs).toBeGreaterThan(slow.maxInProcessWaitMs);
    });

    it('hands the message back when the invocation has no time left for the wait', () => {
      // Act
      const decision = decide(serverError(), 0, 500, settings, highest);

      // Assess
      expect(decision).toEqual({ action: 'deliver-later', delayMs: 999, countsAttempt: true });
    });

    it('dead-letters the failure that spends the attempt budget (the 3rd of 3) and retries the ones before', () => {
      // Act
      const decisions = [0, 1, 2].map((attemptsSoFar) =>
        decide(serverError(), attemptsSoFar, LOTS_OF_TIME, settings, lowest),
      );

      // Assess
      expect(decisions.map((decision) => decision.action)).toEqual(['wait-here', 'wait-here', 'dead-letter']);
    });

    it('dead-letters unknown errors once the budget is spent, as they count as real failures', () => {
      // Act
      const before = decide(new TypeError('boom'), 1, LOTS_OF_TIME, settings, lowest);
      const last = decide(new TypeError('boom'), 2, LOTS_OF_TIME, settings, lowest);

      // Assess
      expect(before).toMatchObject({ countsAttempt: true });
      expect(last).toEqual({ action: 'dead-letter' });
    });

    it('never waits less than the Retry-After the provider asked for, even when the backoff is shorter', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 3_600_000 }),
          fc.integer({ min: 0, max: settings.maxAttempts - 2 }),
          fc.nat(LOTS_OF_TIME),
          fraction,
          (retryAfterMs, attempts, time, random) => {
            // Act
            const decision = decide(serverError(retryAfterMs), attempts, time, settings, () => random);

            // Assess
            if (decision.action === 'dead-letter') throw new Error('a retry was expected');
            expect(decision.delayMs).toBeGreaterThanOrEqual(retryAfterMs);
            expect(decision.countsAttempt).toBe(true);
          },
        ),
      );
    });

    it('retries output that did not match the schema as a real failure', () => {
      // Act
      const decision = decide(new InvalidOutputError('truncated'), 0, LOTS_OF_TIME, settings, lowest);

      // Assess
      expect(decision).toMatchObject({ action: 'wait-here', countsAttempt: true });
    });
  });

  describe('deferred errors (waiting is not failing)', () => {
    const deferred: [string, (retryAfterMs: number) => Error][] = [
      ['RateLimitedError', (ms) => new RateLimitedError('rate limit reached', ms)],
      ['BreakerOpenError', (ms) => new BreakerOpenError('gpt-test', ms)],
      ['BudgetExhaustedError', (ms) => new BudgetExhaustedError('budget spent', ms)],
      ['LeaseHeldError', (ms) => new LeaseHeldError('item-1', { retryAfterMs: ms })],
      [
        'SecretUnavailableError',
        (ms) => new SecretUnavailableError('arn:secret', 'unreadable', 'secret deleted', { retryAfterMs: ms }),
      ],
      [
        'LlmCallError 429',
        (ms) => new LlmCallError('too many requests', { status: 429, retryable: true, retryAfterMs: ms }),
      ],
    ];

    it.each(deferred)('never counts an attempt nor dead-letters a %s, even with one attempt left', (_name, make) => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: 3_600_000 }),
          fc.integer({ min: 0, max: settings.maxAttempts - 1 }),
          fc.nat(LOTS_OF_TIME),
          fraction,
          (retryAfterMs, attempts, time, random) => {
            // Act
            const decision = decide(make(retryAfterMs), attempts, time, settings, () => random);

            // Assess
            expect(decision.action).not.toBe('dead-letter');
            if (decision.action === 'dead-letter') return;
            expect(decision.countsAttempt).toBe(false);
            expect(decision.delayMs).toBeGreaterThanOrEqual(retryAfterMs);
          },
        ),
      );
    });

    it('waits here for a short deferral and hands a long one back', () => {
      // Act
      const short = decide(new RateLimitedError('rate limit reached', 800), 2, LOTS_OF_TIME, settings, lowest);
      const long = decide(new BreakerOpenError('gpt-test', 30_000), 2, LOTS_OF_TIME, settings, lowest);

      // Assess
      expect(short).toEqual({ action: 'wait-here', delayMs: 800, countsAttempt: false });
      expect(long).toEqual({ action: 'deliver-later', delayMs: 30_000, countsAttempt: false });
    });

    it('does not re-run at once a deferred error that gives no wait (a lost lease does not come back by itself)', () => {
      // Act
      const decision = decide(
        new StateConflictError('item changed since version 3'),
        0,
        LOTS_OF_TIME,
        settings,
        lowest,
      );

      // Assess
      expect(decision).toMatchObject({ countsAttempt: false });
      expect(decision).not.toEqual({ action: 'wait-here', delayMs: 0, countsAttempt: false });
    });

    it('always hands the message back on a DeadlineError, whatever the time left', () => {
      fc.assert(
        fc.property(fc.integer({ min: 0, max: settings.maxAttempts - 1 }), fc.nat(LOTS_OF_TIME), (attempts, time) => {
          // Act
          const decision = decide(new DeadlineError('no time left'), attempts, time, settings, Math.random);

          // Assess
          expect(decision).toMatchObject({ action: 'deliver-later', countsAttempt: false });
        }),
      );
    });
  });
});
