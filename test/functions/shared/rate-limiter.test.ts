import { GetCommand } from '@aws-sdk/lib-dynamodb';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimitedError } from '#shared/errors.ts';
import {
  effectiveLimits,
  gcraAdmit,
  gcraParameters,
  type LimitChange,
  type ModelLimits,
  RateLimiter,
  type Reservation,
} from '#shared/rate-limiter.ts';
import { type StateTable, startStateTable } from '../../support/state-table.ts';

const MINUTE = 60_000;

/** A call whose charge is `tokens` in every counting mode (no max_tokens). */
const ask = (tokens: number) => ({ promptTokens: tokens, maxTokens: 0 });
/** A wall-clock time like the one Date.now() gives in production: the size of the numbers matters for rounding. */
const TODAY = Date.parse('2026-11-01T12:00:00Z');

type Params = ReturnType<typeof gcraParameters>;

/** Offers every arrival in order to one limit, admitting greedily; the admitted ones with their cost. */
function admitGreedily(arrivals: readonly { at: number; cost: number }[], params: Params) {
  let tat = 0;
  const admitted: { at: number; cost: number }[] = [];
  for (const arrival of arrivals) {
    const result = gcraAdmit(tat, arrival.at, arrival.cost, params);
    if (result.ok) {
      tat = result.tat;
      admitted.push(arrival);
    }
  }
  return admitted;
}

/** The most cost admitted in any closed 60-second window, by brute force (a window starts at an admission). */
function mostInAnyMinute(admitted: readonly { at: number; cost: number }[]): number {
  const sorted = [...admitted].sort((a, b) => a.at - b.at);
  let most = 0;
  for (const [i, first] of sorted.entries()) {
    let sum = 0;
    for (let j = i; j < sorted.length; j += 1) {
      const next = sorted[j];
      if (next === undefined || next.at > first.at + MINUTE) break;
      sum += next.cost;
    }
    most = Math.max(most, sum);
  }
  return most;
}

/** Arrival times from a start near today and gaps that mix bursts (0 ms) with pauses. */
const arrivalTimes = fc
  .tuple(
    fc.integer({ min: TODAY - 86_400_000, max: TODAY + 86_400_000 }),
    fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 20_000 })), {
      minLength: 1,
      maxLength: 400,
    }),
  )
  .map(([start, gaps]) => {
    let at = start;
    return gaps.map((gap) => {
      at += gap;
      return at;
    });
  });

describe('Function: gcraAdmit', () => {
  it('never admits more requests than the limit within any 60-second sliding window', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), arrivalTimes, (rpm, times) => {
        // Act
        const admitted = admitGreedily(
          times.map((at) => ({ at, cost: 1 })),
          gcraParameters(rpm),
        );

        // Assess
        expect(mostInAnyMinute(admitted)).toBeLessThanOrEqual(rpm);
      }),
      { numRuns: 200 },
    );
  });

  it('never admits more tokens than the limit within any 60-second sliding window', () => {
    const limits = fc
      .integer({ min: 1000, max: 200_000 })
      .chain((tpm) => fc.tuple(fc.constant(tpm), fc.integer({ min: 1, max: Math.floor(tpm / 2) })));
    fc.assert(
      fc.property(
        limits,
        arrivalTimes,
        fc.infiniteStream(fc.double({ min: 0, max: 1, noNaN: true })),
        ([tpm, largest], times, shares) => {
          // Prepare: every cost is at most the largest the limiter was told to expect
          const arrivals = times.map((at) => ({ at, cost: Math.max(1, Math.round(largest * shares.next().value)) }));

          // Act
          const admitted = admitGreedily(arrivals, gcraParameters(tpm, largest));

          // Assess
          expect(mostInAnyMinute(admitted)).toBeLessThanOrEqual(tpm);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('lets a steady stream use at least 95% of a limit of 600 requests per minute over 10 minutes', () => {
    // Prepare: a request every 20 ms, twice what the limit allows
    const arrivals = Array.from({ length: (10 * MINUTE) / 20 }, (_, i) => ({ at: TODAY + i * 20, cost: 1 }));

    // Act
    const admitted = admitGreedily(arrivals, gcraParameters(600));

    // Assess
    expect(admitted.length).toBeGreaterThanOrEqual(0.95 * 600 * 10);
    expect(mostInAnyMinute(admitted)).toBeLessThanOrEqual(600);
  });

  it('lets a steady stream use at least 95% of a limit of 100,000 tokens per minute over 10 minutes', () => {
    // Prepare: calls of 900 to 1,100 tokens every 100 ms, six times what the limit allows
    const arrivals = Array.from({ length: (10 * MINUTE) / 100 }, (_, i) => ({
      at: TODAY + i * 100,
      cost: 900 + ((i * 37) % 201),
    }));

    // Act
    const admitted = admitGreedily(arrivals, gcraParameters(100_000, 1100));

    // Assess
    const tokens = admitted.reduce((sum, arrival) => sum + arrival.cost, 0);
    expect(tokens).toBeGreaterThanOrEqual(0.95 * 100_000 * 10);
    expect(mostInAnyMinute(admitted)).toBeLessThanOrEqual(100_000);
  });

  it('admits a request told to wait exactly its deficit, where the fractional interval sums a hair above it', () => {
    // Prepare: 102 per minute with a burst of 47 makes the deficit exactly 13,409 ms in real numbers
    const params = gcraParameters(102, 47);
    const now = 1_793_448_000_000;
    const tat = now + 62_209;

    // Act
    const first = gcraAdmit(tat, now, 3, params);
    const later = first.ok ? first : gcraAdmit(tat, now + first.waitMs, 3, params);

    // Assess
    expect(first).toEqual({ ok: false, waitMs: 13_409 });
    expect(later.ok).toBe(true);
  });

  it('refuses with a waitMs after which the same request is admitted', () => {
    const call = fc.integer({ min: 100, max: 200_000 }).chain((limit) =>
      fc.tuple(
        fc.constant(limit),
        fc
          .integer({ min: 1, max: Math.floor(limit / 2) })
          .chain((largest) => fc.tuple(fc.constant(largest), fc.integer({ min: 1, max: largest }))),
      ),
    );
    fc.assert(
      fc.property(
        call,
        fc.integer({ min: TODAY - 86_400_000, max: TODAY + 86_400_000 }),
        fc.integer({ min: -2 * MINUTE, max: 2 * MINUTE }),
        ([limit, [largest, cost]], now, ahead) => {
          // Prepare
          const params = gcraParameters(limit, largest);
          const tat = now + ahead;

          // Act
          const first = gcraAdmit(tat, now, cost, params);
          if (first.ok) return;
          const later = gcraAdmit(tat, now + first.waitMs, cost, params);

          // Assess
          expect(first.waitMs).toBeGreaterThan(0);
          expect(later.ok).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('admits a call of any expected cost when nothing is outstanding, at any time of a realistic clock', () => {
    const call = fc.integer({ min: 1, max: 200_000 }).chain((limit) =>
      fc.tuple(
        fc.constant(limit),
        fc
          .integer({ min: 1, max: Math.max(1, Math.floor(limit / 2)) })
          .chain((largest) => fc.tuple(fc.constant(largest), fc.integer({ min: 1, max: largest }))),
      ),
    );
    fc.assert(
      fc.property(
        call,
        fc.integer({ min: TODAY - 86_400_000, max: TODAY + 86_400_000 }),
        ([limit, [largest, cost]], now) => {
          // Act: a limit nothing has been reserved against yet (as a model's first call, or after a long pause)
          const result = gcraAdmit(0, now, cost, gcraParameters(limit, largest));

          // Assess
          expect(result.ok).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('Function: effectiveLimits', () => {
  it('lowers each configured limit to the advertised one, never raises it, and leaves unconfigured ones unlimited', () => {
    expect(effectiveLimits({ rpm: 120, tpm: 50_000 }, { advertisedRpm: 60, advertisedTpm: 90_000 })).toEqual({
      rpm: 60,
      tpm: 50_000,
    });
    expect(effectiveLimits({ tpm: 50_000 }, { advertisedRpm: 60 })).toEqual({ rpm: undefined, tpm: 50_000 });
    expect(effectiveLimits({ rpm: 120 }, {})).toEqual({ rpm: 120, tpm: undefined });
  });
});

/** A clock the test moves by hand. */
class FakeClock {
  at = TODAY;
  readonly now = () => this.at;
  advance(ms: number) {
    this.at += ms;
  }
}

/** The error a reservation threw, or a failure of the test when it was admitted. */
async function refusal(promise: Promise<Reservation | undefined>): Promise<RateLimitedError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof RateLimitedError) return error;
    throw error;
  }
  throw new Error('the reservation was admitted');
}

describe('Class: RateLimiter', () => {
  let table: StateTable;
  let modelCount = 0;

  beforeAll(async () => {
    table = await startStateTable();
  });

  afterAll(async () => {
    await table?.stop();
  });

  /** A limiter for a model no other test uses. */
  function setup(limits: ModelLimits, largestCost = 1) {
    modelCount += 1;
    const model = `model-${modelCount}`;
    const clock = new FakeClock();
    const limiter = new RateLimiter(table.dynamo, table.tableName, { [model]: limits }, largestCost, clock.now);
    return { model, clock, limiter };
  }

  /** A DynamoDB client that counts the requests it sends. */
  function countingClient() {
    const counter = { requests: 0 };
    const client = {
      send: (command: Parameters<typeof table.dynamo.send>[0]) => {
        counter.requests += 1;
        return table.dynamo.send(command);
      },
    } as unknown as typeof table.dynamo;
    return { counter, client };
  }

  /** The model's shared record as stored. */
  async function limitRecord(model: string): Promise<Record<string, unknown>> {
    const { Item } = await table.dynamo.send(
      new GetCommand({ TableName: table.tableName, Key: { pk: `LIMIT#${model}`, sk: 'LIMIT' }, ConsistentRead: true }),
    );
    return Item ?? {};
  }

  /**
   * Callers that want more than any limit gives: after an admission they call again at once, after a refusal
   * they come back exactly when told. The limiters take turns, for `forMs` of the clock; the admitted calls.
   */
  async function saturate(
    limiters: readonly RateLimiter[],
    model: string,
    clock: FakeClock,
    forMs: number,
  ): Promise<{ at: number; cost: number }[]> {
    const admitted: { at: number; cost: number }[] = [];
    const end = clock.at + forMs;
    for (let turn = 0; clock.at < end; turn += 1) {
      const limiter = limiters[turn % limiters.length];
      if (limiter === undefined) throw new Error('no limiter to call');
      try {
        await limiter.reserve(model, ask(1));
        admitted.push({ at: clock.at, cost: 1 });
      } catch (error) {
        if (!(error instanceof RateLimitedError)) throw error;
        clock.advance(error.retryAfterMs ?? 1000);
      }
    }
    return admitted;
  }

  describe('Method: reserve', () => {
    it.each([20, 600])(
      'admits at most the burst of 50 concurrent calls and refuses the rest with a wait (RPM %i)',
      async (rpm) => {
        // Prepare
        const { model, limiter } = setup({ rpm });
        const params = gcraParameters(rpm);
        const burst = Math.round(params.toleranceMs / params.intervalMs);

        // Act
        const results = await Promise.allSettled(Array.from({ length: 50 }, () => limiter.reserve(model, ask(100))));

        // Assess
        const admitted = results.filter((result) => result.status === 'fulfilled');
        const refused = results.flatMap((result) => (result.status === 'rejected' ? [result.reason] : []));
        expect(admitted.length).toBeGreaterThanOrEqual(1);
        expect(admitted.length).toBeLessThanOrEqual(burst);
        expect(refused).toHaveLength(50 - admitted.length);
        for (const error of refused) {
          expect(error).toBeInstanceOf(RateLimitedError);
          expect((error as RateLimitedError).retryAfterMs).toBeGreaterThan(0);
        }
      },
    );

    it.each([
      ['busy, calls closer than the limit allows', 50, 10],
      ['idle, calls farther apart than the limit needs', 150, 20],
    ])('takes one conditional write per admitted call while the limit stays %s', async (_case, gapMs, calls) => {
      // Prepare: the limiter's client counts what it sends
      modelCount += 1;
      const model = `model-${modelCount}`;
      const clock = new FakeClock();
      let requests = 0;
      const counting = {
        send: (command: Parameters<typeof table.dynamo.send>[0]) => {
          requests += 1;
          return table.dynamo.send(command);
        },
      } as unknown as typeof table.dynamo;
      const limiter = new RateLimiter(
        counting,
        table.tableName,
        { [model]: { rpm: 600, tpm: 100_000 } },
        2600,
        clock.now,
      );
      await limiter.reserve(model, ask(100));
      requests = 0;

      // Act: calls within the burst of 12, so every one is admitted
      for (let call = 0; call < calls; call += 1) {
        clock.advance(gapMs);
        await limiter.reserve(model, ask(100));
      }

      // Assess
      expect(requests).toBe(calls);
    });

    it('admits the refused call once the wait it was given has passed', async () => {
      // Prepare
      const { model, clock, limiter } = setup({ rpm: 600, tpm: 100_000 }, 2600);
      const waits: number[] = [];

      // Act & Assess: calls come back to back; every refused one is admitted after exactly the wait it was given
      for (let i = 0; i < 40; i += 1) {
        try {
          await limiter.reserve(model, ask(2000));
        } catch (error) {
          if (!(error instanceof RateLimitedError) || error.retryAfterMs === undefined) throw error;
          waits.push(error.retryAfterMs);
          clock.advance(error.retryAfterMs);
          expect(await limiter.reserve(model, ask(2000))).toMatchObject({ model, tokens: 2000 });
        }
      }
      expect(waits.length).toBeGreaterThan(0);
    });

    it('never refuses a model without limits', async () => {
      // Prepare
      const { limiter } = setup({ rpm: 1, tpm: 100 });

      // Act
      const reservations = await Promise.all(
        Array.from({ length: 100 }, () => limiter.reserve('a-model-with-no-limits', ask(1_000_000))),
      );

      // Assess
      expect(reservations.every((reservation) => reservation === undefined)).toBe(true);
    });

    it.each(['admission', 'admission-max'] as const)(
      'never lets the tokens a provider charges at admission (%s) exceed the limit in any 60-second window',
      async (tokenCounting) => {
        const step = fc.record({
          advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 10_000 })),
          promptShare: fc.double({ min: 0.01, max: 1, noNaN: true }),
          usedShare: fc.double({ min: 0, max: 1, noNaN: true }),
        });
        await fc.assert(
          fc.asyncProperty(
            fc.integer({ min: 5000, max: 100_000 }),
            fc.array(step, { minLength: 1, maxLength: 40 }),
            async (tpm, steps) => {
              // Prepare: max_tokens is a quarter of the limit, the prompt up to as much again
              const maxTokens = Math.floor(tpm / 8);
              const { model, clock, limiter } = setup({ tpm, tokenCounting }, 2 * maxTokens);
              const charged: { at: number; cost: number }[] = [];

              // Act: every answer uses less than max_tokens and is settled; the provider keeps what it charged
              for (const { advanceMs, promptShare, usedShare } of steps) {
                clock.advance(advanceMs);
                const request = { promptTokens: Math.max(1, Math.round(maxTokens * promptShare)), maxTokens };
                const reservation = await limiter.reserve(model, request).catch((error: unknown) => {
                  if (error instanceof RateLimitedError) return undefined;
                  throw error;
                });
                if (reservation === undefined) continue;
                await limiter.settle(reservation, Math.round((request.promptTokens + maxTokens) * usedShare));
                const charge =
                  tokenCounting === 'admission'
                    ? request.promptTokens + maxTokens
                    : Math.max(request.promptTokens, maxTokens);
                charged.push({ at: clock.at, cost: charge });
              }

              // Assess
              expect(mostInAnyMinute(charged)).toBeLessThanOrEqual(tpm);
              clock.advance(2 * MINUTE);
              expect(await limiter.reserve(model, { promptTokens: 1, maxTokens })).toBeDefined();
            },
          ),
          { numRuns: 20 },
        );
      },
    );

    it('never lets requests or used tokens exceed the limits in any 60-second window', async () => {
      const step = fc.record({
        advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 10_000 })),
        share: fc.double({ min: 0.01, max: 1, noNaN: true }),
        usedShare: fc.double({ min: 0, max: 1, noNaN: true }),
      });
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 30, max: 600 }),
          fc.integer({ min: 5000, max: 100_000 }),
          fc.array(step, { minLength: 1, maxLength: 40 }),
          async (rpm, tpm, steps) => {
            // Prepare
            const largest = Math.floor(tpm / 4);
            const { model, clock, limiter } = setup({ rpm, tpm, tokenCounting: 'usage' }, largest);
            const requests: { at: number; cost: number }[] = [];
            const tokens: { at: number; cost: number }[] = [];

            // Act: each admitted call is settled to what it used before the next one comes
            for (const { advanceMs, share, usedShare } of steps) {
              clock.advance(advanceMs);
              const worst = Math.max(1, Math.round(largest * share));
              const reservation = await limiter.reserve(model, ask(worst)).catch((error: unknown) => {
                if (error instanceof RateLimitedError) return undefined;
                throw error;
              });
              if (reservation === undefined) continue;
              const used = Math.round(worst * usedShare);
              await limiter.settle(reservation, used);
              requests.push({ at: clock.at, cost: 1 });
              tokens.push({ at: clock.at, cost: used });
            }

            // Assess
            expect(mostInAnyMinute(requests)).toBeLessThanOrEqual(rpm);
            expect(mostInAnyMinute(tokens)).toBeLessThanOrEqual(tpm);
            // A limiter that refused everything would pass the above: once the limits have had time to refill,
            // a call must be admitted again.
            clock.advance(2 * MINUTE);
            expect(await limiter.reserve(model, ask(Math.max(1, Math.round(largest / 2))))).toBeDefined();
          },
        ),
        { numRuns: 20 },
      );
    });
  });

  describe('Method: settle', () => {
    it.each(['admission', 'admission-max'] as const)(
      'gives nothing back when the provider counts at admission (%s), however little the answer used',
      async (tokenCounting) => {
        // Prepare
        const { model, limiter } = setup({ tpm: 10_000, tokenCounting }, 5000);
        const first = await limiter.reserve(model, ask(4000));

        // Act
        await limiter.settle(first, 10);

        // Assess: the provider still counts the 4,000 it charged this minute
        await refusal(limiter.reserve(model, ask(4000)));
      },
    );

    it('gives back what the prompt estimate reserved beyond the prompt the provider counted, and no more', async () => {
      // Prepare: a call estimated at 4,000 prompt tokens and 1,000 max_tokens, whose answer says the prompt was
      // 1,000; the limit's burst is one such call
      const { model, limiter } = setup({ tpm: 10_000 }, 5000);
      const first = await limiter.reserve(model, { promptTokens: 4000, maxTokens: 1000 });
      const smaller = { promptTokens: 2000, maxTokens: 1000 };
      await refusal(limiter.reserve(model, smaller));

      // Act
      await limiter.settle(first, 1300, 1000);

      // Assess: the provider charged 2,000 at admission, so a call of 3,000 fits now; a second one does not
      expect(await limiter.reserve(model, smaller)).toMatchObject({ model, tokens: 3000 });
      await refusal(limiter.reserve(model, smaller));
    });

    it('keeps every minute within the limit as the provider counts at admission, recounting with the reported prompt', async () => {
      const step = fc.record({
        advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 10_000 })),
        promptShare: fc.double({ min: 0.01, max: 1, noNaN: true }),
        countedShare: fc.double({ min: 0.3, max: 1, noNaN: true }),
        maxShare: fc.double({ min: 0, max: 1, noNaN: true }),
      });
      await fc.assert(
        fc.asyncProperty(
          fc.integer({ min: 5000, max: 100_000 }),
          fc.array(step, { minLength: 1, maxLength: 40 }),
          async (tpm, steps) => {
            // Prepare
            const largest = Math.floor(tpm / 4);
            const { model, clock, limiter } = setup({ tpm }, largest);
            const charged: { at: number; cost: number }[] = [];

            // Act: the provider charges its own count of the prompt (at most the estimate) plus max_tokens
            for (const { advanceMs, promptShare, countedShare, maxShare } of steps) {
              clock.advance(advanceMs);
              const estimate = Math.max(1, Math.round((largest / 2) * promptShare));
              const maxTokens = Math.round((largest / 2) * maxShare);
              const reservation = await limiter
                .reserve(model, { promptTokens: estimate, maxTokens })
                .catch((error: unknown) => {
                  if (error instanceof RateLimitedError) return undefined;
                  throw error;
                });
              if (reservation === undefined) continue;
              const counted = Math.max(1, Math.round(estimate * countedShare));
              charged.push({ at: clock.at, cost: counted + maxTokens });
              await limiter.settle(reservation, counted, counted);
            }

            // Assess
            expect(mostInAnyMinute(charged)).toBeLessThanOrEqual(tpm);
            clock.advance(2 * MINUTE);
            expect(await limiter.reserve(model, ask(Math.max(1, Math.round(largest / 2))))).toBeDefined();
          },
        ),
        { numRuns: 20 },
      );
    });

    it('gives back unused tokens, so a reservation that did not fit now fits', async () => {
      // Prepare
      const { model, limiter } = setup({ tpm: 10_000, tokenCounting: 'usage' }, 5000);
      const first = await limiter.reserve(model, ask(4000));
      await refusal(limiter.reserve(model, ask(4000)));

      // Act
      await limiter.settle(first, 500);

      // Assess
      expect(await limiter.reserve(model, ask(4000))).toMatchObject({ model, tokens: 4000 });
    });

    it('keeps admitting calls after a settle has given tokens back', async () => {
      // Prepare: a realistic limit, whose interval per token is not a round number
      const { model, clock, limiter } = setup({ tpm: 100_000, tokenCounting: 'usage' }, 12_000);
      const first = await limiter.reserve(model, ask(4000));
      await limiter.settle(first, 1000);

      // Act
      clock.advance(2 * MINUTE);
      const next = await limiter.reserve(model, ask(4000));

      // Assess
      expect(next).toMatchObject({ model, tokens: 4000 });
    });

    it('gives nothing back when the call used all it reserved', async () => {
      // Prepare
      const { model, limiter } = setup({ tpm: 10_000, tokenCounting: 'usage' }, 5000);
      const first = await limiter.reserve(model, ask(4000));

      // Act
      await limiter.settle(first, 4000);

      // Assess
      await refusal(limiter.reserve(model, ask(4000)));
    });

    it('keeps every sliding minute within the limit when calls settle long after they were reserved', async () => {
      // Prepare: for a minute, calls reserve 4,000 tokens and fail a minute later having used none (a provider
      // timing out); in the next minute the provider is healthy and calls use all they reserve.
      const { model, clock, limiter } = setup({ tpm: 100_000, tokenCounting: 'usage' }, 12_000);
      const inFlight: { settleAt: number; reservation: Reservation }[] = [];
      const used: { at: number; cost: number }[] = [];

      // Act
      for (let at = 0; at < 3 * MINUTE; at += 1000) {
        clock.at = TODAY + at;
        while (inFlight[0] !== undefined && inFlight[0].settleAt <= clock.at) {
          const done = inFlight.shift();
          if (done) await limiter.settle(done.reservation, 0);
        }
        const reservation = await limiter.reserve(model, ask(4000)).catch((error: unknown) => {
          if (error instanceof RateLimitedError) return undefined;
          throw error;
        });
        if (reservation === undefined) continue;
        if (at < MINUTE) inFlight.push({ settleAt: clock.at + MINUTE, reservation });
        else used.push({ at: clock.at, cost: 4000 });
      }

      // Assess: within the limit, yet the healthy minutes still get most of it
      expect(mostInAnyMinute(used)).toBeLessThanOrEqual(100_000);
      expect(mostInAnyMinute(used)).toBeGreaterThanOrEqual(80_000);
    });
  });

  describe('Method: release', () => {
    it.each(['admission', 'admission-max', 'usage'] as const)(
      'gives a call that was never sent back whole (%s)',
      async (tokenCounting) => {
        // Prepare
        const { model, limiter } = setup({ tpm: 10_000, tokenCounting }, 5000);
        const first = await limiter.reserve(model, ask(4000));
        await refusal(limiter.reserve(model, ask(4000)));

        // Act
        await limiter.release(first);

        // Assess
        expect(await limiter.reserve(model, ask(4000))).toMatchObject({ model, tokens: 4000 });
      },
    );
  });

  describe('Method: observe', () => {
    it('holds every instance back, without counting a 429, while the provider says its window has no request left', async () => {
      // Prepare: the provider answers a call with no request left in its window for the next 2.5 s
      const { model, clock, limiter } = setup({ rpm: 600 });
      const other = new RateLimiter(table.dynamo, table.tableName, { [model]: { rpm: 600 } }, 1, clock.now);
      await limiter.reserve(model, ask(1));

      // Act
      await limiter.observe(model, { requests: 600, remainingRequests: 0, resetRequestsMs: 2500 });

      // Assess: nobody calls before the provider has room again, and no 429 was counted
      clock.advance(2400);
      expect((await refusal(other.reserve(model, ask(1)))).retryAfterMs).toBeLessThanOrEqual(100);
      clock.advance(100);
      expect(await other.reserve(model, ask(1))).toBeDefined();
      expect((await limitRecord(model))?.throttled).toBeUndefined();
    });

    it('does not hold anyone while the provider has requests left', async () => {
      // Prepare
      const { model, clock, limiter } = setup({ rpm: 600 });

      // Act
      await limiter.observe(model, { requests: 600, remainingRequests: 1, resetRequestsMs: 0 });

      // Assess
      expect(await limiter.reserve(model, ask(1))).toBeDefined();
      expect((await limitRecord(model))?.heldUntil).toBeUndefined();
      clock.advance(0);
    });

    it('keeps every minute within a lower advertised limit, and still uses most of it', async () => {
      // Prepare: configured for 40 per minute; the provider advertises 20
      const { model, clock, limiter } = setup({ rpm: 40 });

      // Act: callers that want more than any limit, for three minutes
      await limiter.observe(model, { requests: 20, tokens: 1_000_000 });
      const admitted = await saturate([limiter], model, clock, 3 * MINUTE);

      // Assess
      expect(mostInAnyMinute(admitted)).toBeLessThanOrEqual(20);
      expect(admitted.length).toBeGreaterThanOrEqual(0.85 * 3 * 20);
    });

    it('is followed by another instance on the same table, which learns it from its next reservation', async () => {
      // Prepare: two instances of the same stage, both busy with the model before the provider lowers its limit
      const { model, clock, limiter } = setup({ rpm: 40 });
      const changes: LimitChange[] = [];
      const other = new RateLimiter(table.dynamo, table.tableName, { [model]: { rpm: 40 } }, 1, clock.now, (change) =>
        changes.push(change),
      );
      await saturate([limiter, other], model, clock, MINUTE);

      // Act: only the first instance sees an answer advertising 20; only the other one calls from then on
      await limiter.observe(model, { requests: 20 });
      clock.advance(MINUTE);
      const admitted = await saturate([other], model, clock, 3 * MINUTE);

      // Assess
      expect(mostInAnyMinute(admitted)).toBeLessThanOrEqual(20);
      expect(admitted.length).toBeGreaterThanOrEqual(0.85 * 3 * 20);
      expect(changes).toEqual([
        {
          model,
          configured: { rpm: 40, tpm: undefined },
          advertised: { rpm: 20, tpm: undefined },
          from: { rpm: 40, tpm: undefined },
          to: { rpm: 20, tpm: undefined },
        },
      ]);
    });

    it('follows a restored limit back up to the configured one, never above it', async () => {
      // Prepare: the provider lowered the limit, then restores it above what is configured
      const { model, clock, limiter } = setup({ rpm: 40 });
      const other = new RateLimiter(table.dynamo, table.tableName, { [model]: { rpm: 40 } }, 1, clock.now);
      await limiter.observe(model, { requests: 10 });
      const lowered = await saturate([limiter], model, clock, 2 * MINUTE);

      // Act: another instance sees the restored limit
      await other.observe(model, { requests: 500 });
      const restored = await saturate([limiter], model, clock, 3 * MINUTE);

      // Assess
      expect(mostInAnyMinute(lowered)).toBeLessThanOrEqual(10);
      expect(mostInAnyMinute(restored)).toBeLessThanOrEqual(40);
      expect(restored.length).toBeGreaterThanOrEqual(0.85 * 3 * 40);
    });

    it('changes nothing for a model without limits, nor for a limit left unconfigured, and sends nothing', async () => {
      // Prepare
      const { counter, client } = countingClient();
      modelCount += 1;
      const model = `model-${modelCount}`;
      const clock = new FakeClock();
      const limiter = new RateLimiter(client, table.tableName, { [model]: { tpm: 1_000_000 } }, 1000, clock.now);

      // Act
      await limiter.observe('a-model-with-no-limits', { requests: 1, tokens: 1 });
      await limiter.observe(model, { requests: 1 });
      const unlimited = await Promise.all(
        Array.from({ length: 20 }, () => limiter.reserve('a-model-with-no-limits', ask(1))),
      );
      const sent = counter.requests;
      const admitted = await Promise.all(Array.from({ length: 20 }, () => limiter.reserve(model, ask(10))));

      // Assess: the model's requests stay unlimited (20 at once), only its tokens are paced
      expect(sent).toBe(0);
      expect(unlimited.every((reservation) => reservation === undefined)).toBe(true);
      expect(admitted.every((reservation) => reservation?.model === model)).toBe(true);
    });

    it('writes the advertised limits once when they change, not once per answer', async () => {
      // Prepare
      const { counter, client } = countingClient();
      modelCount += 1;
      const model = `model-${modelCount}`;
      const clock = new FakeClock();
      const limiter = new RateLimiter(
        client,
        table.tableName,
        { [model]: { rpm: 600, tpm: 100_000 } },
        2600,
        clock.now,
      );
      await limiter.reserve(model, ask(100));
      counter.requests = 0;

      // Act: answers advertising more than configured, then the same lower limits ten times
      await limiter.observe(model, { requests: 10_000, tokens: 10_000_000 });
      const whileAboveConfigured = counter.requests;
      for (let answer = 0; answer < 10; answer += 1) await limiter.observe(model, { requests: 300, tokens: 100_000 });

      // Assess
      expect(whileAboveConfigured).toBe(0);
      expect(counter.requests).toBe(1);
      expect(await limitRecord(model)).toMatchObject({ advertisedRpm: 300, advertisedTpm: 100_000 });
    });

    it('keeps one conditional write per reservation once another instance lowered the limit', async () => {
      // Prepare: the provider advertised a lower limit to another instance; this one has paid the one failed
      // reservation that taught it the new limit
      const { counter, client } = countingClient();
      modelCount += 1;
      const model = `model-${modelCount}`;
      const clock = new FakeClock();
      const limits = { [model]: { rpm: 600, tpm: 100_000 } };
      const limiter = new RateLimiter(client, table.tableName, limits, 2600, clock.now);
      const other = new RateLimiter(table.dynamo, table.tableName, limits, 2600, clock.now);
      await limiter.reserve(model, ask(100));
      await other.observe(model, { requests: 300 });
      clock.advance(1000);
      await limiter.reserve(model, ask(100));
      counter.requests = 0;

      // Act: calls within the burst, every one admitted, as in the healthy path above
      for (let call = 0; call < 10; call += 1) {
        clock.advance(150);
        await limiter.reserve(model, ask(100));
      }

      // Assess
      expect(counter.requests).toBe(10);
    });
  });

  describe('Method: holdUntil', () => {
    it('counts every 429 on the model record, whether or not it moved the hold', async () => {
      // Prepare
      const { model, clock } = setup({ rpm: 60 });
      const { counter, client } = countingClient();
      const limiter = new RateLimiter(client, table.tableName, { [model]: { rpm: 60 } }, 1, clock.now);

      // Act: a hold, an earlier one (which does not move it), a later one
      await limiter.holdUntil(model, clock.at + 10_000);
      const firstWrites = counter.requests;
      await limiter.holdUntil(model, clock.at + 5000);
      await limiter.holdUntil(model, clock.at + 20_000);

      // Assess
      expect(firstWrites).toBe(1);
      expect(counter.requests).toBe(4);
      expect(await limitRecord(model)).toMatchObject({ throttled: 3, heldUntil: clock.at + 20_000 });
    });

    it.each<[string, ModelLimits, number, number]>([
      ['RPM 60', { rpm: 60 }, 1, 100],
      ['RPM 600', { rpm: 600 }, 1, 100],
      ['TPM 100,000', { tpm: 100_000 }, 2600, 2600],
      ['RPM 60 and TPM 10,000', { rpm: 60, tpm: 10_000 }, 5000, 4000],
    ])('makes every reservation wait until then (%s)', async (_name, limits, largestCost, inFlightTokens) => {
      // Prepare: a call is in flight when the provider answers another one with 429 and a Retry-After of 10 s
      const { model, clock, limiter } = setup(limits, largestCost);
      await limiter.reserve(model, ask(inFlightTokens));
      const until = clock.at + 10_000;

      // Act
      await limiter.holdUntil(model, until);

      // Assess
      clock.at = until - 1;
      const error = await refusal(limiter.reserve(model, ask(100)));
      expect(error.retryAfterMs).toBeGreaterThan(0);
      clock.at = until + MINUTE;
      expect(await limiter.reserve(model, ask(100))).toBeDefined();
    });

    it('is not shortened by a reservation settled after it', async () => {
      // Prepare: the call that got the 429 gives its tokens back after the hold was set
      const { model, clock, limiter } = setup({ tpm: 10_000, tokenCounting: 'usage' }, 5000);
      const failed = await limiter.reserve(model, ask(4000));
      const until = clock.at + 70_000;
      await limiter.holdUntil(model, until);

      // Act
      await limiter.settle(failed, 0);

      // Assess: even allowing for the burst tolerance, a call halfway to `until` must still wait
      clock.at = until - 35_000;
      await refusal(limiter.reserve(model, ask(4000)));
    });

    it('changes nothing for a model without limits', async () => {
      // Prepare
      const { limiter } = setup({ rpm: 60 });

      // Act
      await limiter.holdUntil('a-model-with-no-limits', TODAY + MINUTE);

      // Assess
      expect(await limiter.reserve('a-model-with-no-limits', ask(100))).toBeUndefined();
    });
  });
});
