import { daysBetween } from '#ops/days.ts';
import type { Target } from '#ops/target.ts';
import { utcDay } from '#shared/budget.ts';
import { CallLedger, nanoToUsd, type UsageRow } from '#shared/call-ledger.ts';

/**
 * Token economics read from the state table: the per-day usage rows and their totals by stage, model or day,
 * for `sluice costs` and the console.
 */

/** What a cost table's rows can be grouped by. */
export const COST_GROUPS = ['stage', 'model', 'day'] as const;
export type CostGroup = (typeof COST_GROUPS)[number];
/** Days one report reads at most (one query each). */
export const MAX_COST_DAYS = 400;
const DEFAULT_DAYS = 30;

/**
 * The first day of a report when none is given: 30 days in all up to `until`.
 * @example defaultSince('2026-11-30') // '2026-11-01'
 */
export function defaultSince(until: string): string {
  return utcDay(Date.parse(`${until}T00:00:00Z`) - (DEFAULT_DAYS - 1) * 86_400_000);
}

export interface CostRow {
  /** The stage, model or day of the row; `total` on the totals row. */
  key: string;
  calls: number;
  promptTokens: number;
  completionTokens: number;
  tokens: number;
  /** Exact: the sum of the rows' nano-dollars. */
  costNanoUsd: number;
  costUsd: number;
  usdPerCall: number;
  tokensPerCall: number;
  rebilledCalls: number;
}

export interface CostsReport {
  since: string;
  until: string;
  by: CostGroup;
  rows: CostRow[];
  totals: CostRow;
}

/**
 * Groups usage rows into a cost table with a totals row.
 * @example costTable(rows, 'model', '2026-11-01', '2026-11-30').totals.costUsd
 */
function costTable(usage: readonly UsageRow[], by: CostGroup, since: string, until: string): CostsReport {
  const groups = new Map<string, CostRow>();
  const totals = emptyRow('total');
  for (const row of usage) {
    const key = by === 'stage' ? row.stage : by === 'model' ? row.model : row.day;
    const group = groups.get(key) ?? emptyRow(key);
    add(group, row);
    add(totals, row);
    groups.set(key, group);
  }
  return {
    since,
    until,
    by,
    rows: [...groups.values()].sort((a, b) => a.key.localeCompare(b.key)).map(finish),
    totals: finish(totals),
  };
}

function emptyRow(key: string): CostRow {
  return {
    key,
    calls: 0,
    promptTokens: 0,
    completionTokens: 0,
    tokens: 0,
    costNanoUsd: 0,
    costUsd: 0,
    usdPerCall: 0,
    tokensPerCall: 0,
    rebilledCalls: 0,
  };
}

function add(total: CostRow, row: UsageRow) {
  total.calls += Number(row.calls ?? 0);
  total.promptTokens += Number(row.promptTokens ?? 0);
  total.completionTokens += Number(row.completionTokens ?? 0);
  total.costNanoUsd += Number(row.costNanoUsd ?? 0);
  total.rebilledCalls += Number(row.rebilledCalls ?? 0);
}

function finish(row: CostRow): CostRow {
  const tokens = row.promptTokens + row.completionTokens;
  return {
    ...row,
    tokens,
    costUsd: nanoToUsd(row.costNanoUsd),
    usdPerCall: row.calls === 0 ? 0 : nanoToUsd(row.costNanoUsd) / row.calls,
    tokensPerCall: row.calls === 0 ? 0 : Math.round(tokens / row.calls),
  };
}

/**
 * The per-day usage rows (one per stage and model) of every UTC day from `since` to `until`, both included, each
 * with its day.
 * @example const rows = await readUsage(target, '2026-11-01', '2026-11-30');
 */
export async function readUsage(target: Target, since: string, until: string): Promise<UsageRow[]> {
  const ledger = new CallLedger(target.dynamo, target.stateTableName);
  const usage: UsageRow[] = [];
  const days = daysBetween(since, until);
  // A handful of day queries at a time: quick, and gentle on the table.
  for (let start = 0; start < days.length; start += 10) {
    const pages = await Promise.all(days.slice(start, start + 10).map((day) => ledger.usageOfDay(day)));
    for (const [index, rows] of pages.entries()) {
      const day = days[start + index] ?? '';
      usage.push(...rows.map((row) => ({ ...row, day: row.day ?? day })));
    }
  }
  return usage;
}

/**
 * What `sluice costs --json` prints: the usage of the days from `since` to `until` grouped `by` stage, model or day.
 * @example const report = await readCosts(target, { since: '2026-11-01', until: '2026-11-30', by: 'model' });
 */
export async function readCosts(
  target: Target,
  window: { since: string; until: string; by: CostGroup },
): Promise<CostsReport> {
  return costTable(await readUsage(target, window.since, window.until), window.by, window.since, window.until);
}
