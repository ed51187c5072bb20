import { readUsage } from '#ops/costs.ts';
import { daysBetween } from '#ops/days.ts';
import type { Target } from '#ops/target.ts';
import { DailyBudget } from '#shared/budget.ts';
import { nanoToUsd } from '#shared/call-ledger.ts';
import { countItemsInState } from './item-queries.ts';

/**
 * Token economics over a span of days for the console's charts: the same per-day usage rows `sluice costs` reads
 * (one per day, stage and model), each day's budget record, and what a published item costs.
 */

export interface EconomicsPoint {
  stage: string;
  model: string;
  day: string;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  calls: number;
  rebilledCalls: number;
}

export interface BudgetDay {
  day: string;
  /** The daily budget from the project's cdk.json; null when it cannot be read here. */
  limitUsd: number | null;
  /** Spent plus reserved for calls in flight (or left by crashed ones). */
  committedUsd: number;
  spentUsd: number;
}

export interface EconomicsReport {
  since: string;
  until: string;
  /** Every UTC day from `since` to `until`, in order. */
  days: string[];
  /** One point per day, stage and model with any call, by day then stage then model. */
  series: EconomicsPoint[];
  /** One entry per day of `days`. */
  budget: BudgetDay[];
  costUsd: number;
  /** Items published (last updated) within the days. */
  publishedItems: number;
  /** All the days' spend over the items published in them; null when none was. */
  costPerPublishedItemUsd: number | null;
  rebilledCalls: number;
}

/**
 * @example const report = await readEconomics(target, { since: '2026-11-01', until: '2026-11-30', limitUsd: 25 });
 */
export async function readEconomics(
  target: Target,
  window: { since: string; until: string; limitUsd: number | null },
): Promise<EconomicsReport> {
  const days = daysBetween(window.since, window.until);
  const budget = new DailyBudget(target.dynamo, target.stateTableName, 0, Date.now);
  const [usage, records, publishedItems] = await Promise.all([
    readUsage(target, window.since, window.until),
    inChunks(days, 10, (day) => budget.read(day)),
    countItemsInState(target, 'PUBLISHED', window),
  ]);
  const series = usage
    .map(
      (row): EconomicsPoint => ({
        stage: row.stage,
        model: row.model,
        day: row.day,
        promptTokens: Number(row.promptTokens ?? 0),
        completionTokens: Number(row.completionTokens ?? 0),
        costUsd: nanoToUsd(Number(row.costNanoUsd ?? 0)),
        calls: Number(row.calls ?? 0),
        rebilledCalls: Number(row.rebilledCalls ?? 0),
      }),
    )
    .sort((a, b) => a.day.localeCompare(b.day) || a.stage.localeCompare(b.stage) || a.model.localeCompare(b.model));
  // Summed in nano-dollars, as `sluice costs` does, so the total is exact.
  const costUsd = nanoToUsd(usage.reduce((sum, row) => sum + Number(row.costNanoUsd ?? 0), 0));
  return {
    since: window.since,
    until: window.until,
    days,
    series,
    budget: records.map((record) => ({
      day: record.day,
      limitUsd: window.limitUsd,
      committedUsd: nanoToUsd(record.committedNano),
      spentUsd: nanoToUsd(record.spentNano),
    })),
    costUsd,
    publishedItems,
    costPerPublishedItemUsd: publishedItems === 0 ? null : costUsd / publishedItems,
    rebilledCalls: series.reduce((sum, point) => sum + point.rebilledCalls, 0),
  };
}

/** Maps `values` a few at a time, keeping their order. */
async function inChunks<T, R>(values: readonly T[], size: number, map: (value: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let start = 0; start < values.length; start += size) {
    results.push(...(await Promise.all(values.slice(start, start + size).map(map))));
  }
  return results;
}
