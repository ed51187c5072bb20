import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BudgetReservation, DailyBudget, utcDay } from '#shared/budget.ts';
import { BudgetExhaustedError, ItemBudgetExceededError } from '#shared/errors.ts';
import { type StateTable, startStateTable } from '../../support/state-table.ts';

const NANO = 1e9;
/** Dollars in the nano-dollars the budget counts in. */
const nano = (usd: number) => Math.round(usd * NANO);
const DAY = 86_400_000;

describe('Class: DailyBudget', () => {
  let table: StateTable;
  /** Every test gets a UTC day of its own and the day after, so each starts from empty budget records. */
  let dayCount = 0;

  beforeAll(async () => {
    table = await startStateTable();
  });

  afterAll(async () => {
    await table?.stop();
  });

  /** A budget of `usd` per day, on a fake clock at `timeOfDay` ms into a day no other test uses. */
  function setup(usd: number, timeOfDay = 12 * 3_600_000) {
    dayCount += 1;
    const clock = { at: Date.parse('2026-01-01T00:00:00Z') + 2 * dayCount * DAY + timeOfDay };
    const budget = new DailyBudget(table.dynamo, table.tableName, usd, () => clock.at);
    return { clock, budget, day: utcDay(clock.at) };
  }

  /** The error a reservation threw, or a failure of the test when it was granted. */
  async function refusal(promise: Promise<BudgetReservation>): Promise<Error> {
    try {
      await promise;
    } catch (error) {
      if (error instanceof Error) return error;
      throw error;
    }
    throw new Error('the reservation was granted');
  }

  describe('Method: reserve', () => {
    it('never commits more than the budget to many concurrent reservations', async () => {
      // Prepare: 40 calls of up to $0.10 each, about twice what a budget of $1 allows
      const { budget, day } = setup(1);
      const costs = fc.sample(fc.integer({ min: 1, max: nano(0.1) }), { numRuns: 40, seed: 7 });

      // Act
      const results = await Promise.allSettled(costs.map((cost) => budget.reserve(cost)));

      // Assess
      const granted = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
      const refused = results.flatMap((result) => (result.status === 'rejected' ? [result.reason] : []));
      const record = await budget.read(day);
      expect(granted.reduce((sum, reservation) => sum + reservation.reservedNano, 0)).toBeLessThanOrEqual(nano(1));
      expect(record.committedNano).toBe(granted.reduce((sum, reservation) => sum + reservation.reservedNano, 0));
      expect(record.committedNano).toBeLessThanOrEqual(budget.limitNano);
      expect(refused.length).toBeGreaterThan(0);
      for (const error of refused) expect(error).toBeInstanceOf(BudgetExhaustedError);
    });

    it('refuses an exhausted budget with a wait of at most 15 minutes, to look again for a raised budget', async () => {
      // Prepare
      const { budget } = setup(1);
      await budget.reserve(nano(0.9));

      // Act
      const error = await refusal(budget.reserve(nano(0.2)));

      // Assess
      expect(error).toBeInstanceOf(BudgetExhaustedError);
      expect((error as BudgetExhaustedError).kind).toBe('deferred');
      expect((error as BudgetExhaustedError).retryAfterMs).toBe(15 * 60_000);
    });

    it('never asks to wait past the start of the next UTC day', async () => {
      // Prepare: five minutes to midnight
      const { budget, clock } = setup(1, DAY - 5 * 60_000);
      await budget.reserve(nano(1));

      // Act
      const error = await refusal(budget.reserve(1));

      // Assess
      expect(error).toBeInstanceOf(BudgetExhaustedError);
      const retryAfterMs = (error as BudgetExhaustedError).retryAfterMs ?? Number.POSITIVE_INFINITY;
      expect(retryAfterMs).toBeLessThanOrEqual(Date.parse(`${utcDay(clock.at + DAY)}T00:00:00Z`) - clock.at);
      expect(retryAfterMs).toBe(5 * 60_000);
    });

    it('starts every UTC day with a fresh budget', async () => {
      // Prepare
      const { budget, clock, day } = setup(1, DAY - 1000);
      await budget.reserve(nano(1));
      await refusal(budget.reserve(1));

      // Act: a second past midnight
      clock.at += 2000;
      const reservation = await budget.reserve(nano(0.5));

      // Assess
      expect(reservation.day).not.toBe(day);
      expect((await budget.read(reservation.day)).committedNano).toBe(nano(0.5));
      expect((await budget.read(day)).committedNano).toBe(nano(1));
    });

    it('refuses a call larger than the whole budget as a permanent failure', async () => {
      // Prepare
      const { budget, day } = setup(1);

      // Act
      const error = await refusal(budget.reserve(nano(1) + 1));

      // Assess
      expect(error).toBeInstanceOf(ItemBudgetExceededError);
      expect((error as ItemBudgetExceededError).kind).toBe('permanent');
      expect((await budget.read(day)).committedNano).toBe(0);
    });

    it('grants a call that exactly fills the budget', async () => {
      // Prepare
      const { budget, day } = setup(1);
      await budget.reserve(nano(0.25));

      // Act
      await budget.reserve(nano(0.75));

      // Assess
      expect((await budget.read(day)).committedNano).toBe(nano(1));
    });
  });

  describe('Method: settle', () => {
    it('replaces each worst case with the actual cost', async () => {
      // Prepare
      const { budget, day } = setup(1);
      const reservations = await Promise.all([0.1, 0.2, 0.3].map((usd) => budget.reserve(nano(usd))));
      const actuals = [nano(0.01), nano(0.2), 0];

      // Act
      await Promise.all(reservations.map((reservation, i) => budget.settle(reservation, actuals[i] ?? 0)));

      // Assess
      const record = await budget.read(day);
      expect(record.spentNano).toBe(nano(0.21));
      expect(record.committedNano).toBe(nano(0.21));
    });

    it('frees room for later calls when a call cost less than its worst case', async () => {
      // Prepare
      const { budget } = setup(1);
      const first = await budget.reserve(nano(0.8));
      await refusal(budget.reserve(nano(0.5)));

      // Act
      await budget.settle(first, nano(0.1));

      // Assess
      expect((await budget.reserve(nano(0.5))).reservedNano).toBe(nano(0.5));
    });

    it('settles against the day it was reserved on, even after midnight', async () => {
      // Prepare
      const { budget, clock, day } = setup(1, DAY - 1000);
      const reservation = await budget.reserve(nano(0.5));
      clock.at += 2000;

      // Act
      await budget.settle(reservation, nano(0.2));

      // Assess
      expect(await budget.read(day)).toEqual({ day, committedNano: nano(0.2), spentNano: nano(0.2) });
      expect((await budget.read(utcDay(clock.at))).committedNano).toBe(0);
    });
  });

  it('never lets committed exceed the budget over any sequence of reservations and settlements', async () => {
    const operation = fc.oneof(
      fc.record({ kind: fc.constant('reserve' as const), usd: fc.double({ min: 0, max: 0.4, noNaN: true }) }),
      fc.record({
        kind: fc.constant('settle' as const),
        pick: fc.nat(),
        share: fc.double({ min: 0, max: 1, noNaN: true }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 40 }), async (operations) => {
        // Prepare
        const { budget, day } = setup(1);
        const open: BudgetReservation[] = [];
        let spent = 0;

        // Act & Assess after every step
        for (const operation of operations) {
          if (operation.kind === 'reserve') {
            const reservation = await budget.reserve(nano(operation.usd)).catch((error: unknown) => {
              if (error instanceof BudgetExhaustedError) return undefined;
              throw error;
            });
            if (reservation) open.push(reservation);
          } else if (open.length > 0) {
            const [reservation] = open.splice(operation.pick % open.length, 1);
            if (reservation === undefined) continue;
            const actual = Math.floor(reservation.reservedNano * operation.share);
            await budget.settle(reservation, actual);
            spent += actual;
          }
          const record = await budget.read(day);
          expect(record.committedNano).toBeLessThanOrEqual(budget.limitNano);
          expect(record.spentNano).toBe(spent);
          expect(record.committedNano).toBe(
            spent + open.reduce((sum, reservation) => sum + reservation.reservedNano, 0),
          );
        }
      }),
      { numRuns: 20 },
    );
  });
});
