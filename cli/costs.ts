import { parseArgs } from 'node:util';
import { TARGET_HELP, TARGET_OPTIONS, type Target, type TargetRequest } from '#ops/target.ts';
import { utcDay } from '#shared/budget.ts';
import { CallLedger, nanoToUsd, type UsageRow } from '#shared/call-ledger.ts';
import { daysBetween, noPositionals, parseChoice, parseDay } from './arguments.ts';
import {
  type CommandIo,
  PROCESS_IO,
  printer,
  printJson,
  runOperatorCommand,
  targetRequestOf,
} from './operator-command.ts';
import { type Align, formatCount, formatUsd, renderTable, toCsv } from './text-table.ts';
import { EXIT, UsageError } from './usage-error.ts';

export const COSTS_HELP = `Usage: sluice costs [options]

Token economics from the state table's per-day totals (USAGE#<day>, one row per stage and model): calls,
prompt and completion tokens, dollars, dollars and tokens per call, and calls re-billed after a crash, grouped
by stage, model or day, with a totals row. Costs are summed in nano-dollars, so totals are exact.

Options:
  --since DATE         First UTC day: YYYY-MM-DD, a date-time, or an age like 7d (default: 29 days before --until).
  --until DATE         Last UTC day, included (default: today).
  --by stage|model|day Group rows by (default: stage).
  --csv                Print CSV instead of a table.
${TARGET_HELP}
Examples:
  sluice costs
  sluice costs --since 7d --by day
  sluice costs --since 2026-11-01 --until 2026-11-30 --by model --csv > november.csv
  sluice costs --json | jq '.totals.costUsd'
`;

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

interface CostsOptions {
  since: string;
  until: string;
  by: CostGroup;
  json: boolean;
  csv: boolean;
  target: TargetRequest;
}

function parseCostsArgs(args: string[], now = Date.now()): CostsOptions | 'help' {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      ...TARGET_OPTIONS,
      since: { type: 'string' },
      until: { type: 'string' },
      by: { type: 'string', default: 'stage' },
      csv: { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  noPositionals(positionals);
  if (values.json && values.csv) throw new UsageError('--json and --csv exclude each other');
  const until = values.until === undefined ? utcDay(now) : parseDay('--until', values.until, now);
  const since = values.since === undefined ? defaultSince(until) : parseDay('--since', values.since, now);
  if (since > until) throw new UsageError(`--since ${since} is after --until ${until}`);
  if (daysBetween(since, until).length > MAX_COST_DAYS) {
    throw new UsageError(`at most ${MAX_COST_DAYS} days at a time (${since} to ${until} is more)`);
  }
  return {
    since,
    until,
    by: parseChoice('--by', values.by, COST_GROUPS),
    json: values.json,
    csv: values.csv,
    target: targetRequestOf(values),
  };
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
export function costTable(usage: readonly UsageRow[], by: CostGroup, since: string, until: string): CostsReport {
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

/**
 * `sluice costs`: returns the process exit code.
 * @example process.exitCode = await runCosts(['--help']);
 */
export async function runCosts(args: string[], io: CommandIo = PROCESS_IO): Promise<number> {
  const options = parseCostsArgs(args);
  return runOperatorCommand(
    'costs',
    COSTS_HELP,
    options,
    async (target, options) => {
      const report = await readCosts(target, options);
      if (options.json) printJson(report, io);
      else if (options.csv) io.out.write(toCsv(csvRows(report)));
      else printTable(printer(io), report, target.description);
      return EXIT.ok;
    },
    io,
  );
}

const COLUMNS = ['calls', 'prompt tokens', 'completion tokens', 'tokens', 'cost', '$/call', 'tokens/call', 're-billed'];

function cells(row: CostRow): string[] {
  return [
    formatCount(row.calls),
    formatCount(row.promptTokens),
    formatCount(row.completionTokens),
    formatCount(row.tokens),
    formatUsd(row.costUsd),
    `$${row.usdPerCall.toFixed(6)}`,
    formatCount(row.tokensPerCall),
    formatCount(row.rebilledCalls),
  ];
}

function printTable(print: (line?: string) => void, report: CostsReport, description: string) {
  print(`LLM usage of ${description}, ${report.since} to ${report.until} (UTC), by ${report.by}`);
  print();
  if (report.rows.length === 0) {
    print('no LLM calls in this period');
    return;
  }
  const rows = [...report.rows.map((row) => [row.key, ...cells(row)]), ['total', ...cells(report.totals)]];
  const align: Align[] = ['left', ...COLUMNS.map((): Align => 'right')];
  const lines = renderTable([report.by, ...COLUMNS], rows, align);
  const rule = '-'.repeat(Math.max(...lines.map((line) => line.length)));
  for (const [index, line] of lines.entries()) {
    if (index === lines.length - 1) print(rule);
    print(line);
  }
}

function csvRows(report: CostsReport): (string | number)[][] {
  const values = (row: CostRow) => [
    row.calls,
    row.promptTokens,
    row.completionTokens,
    row.tokens,
    row.costUsd.toFixed(9),
    row.usdPerCall.toFixed(9),
    row.tokensPerCall,
    row.rebilledCalls,
  ];
  return [
    [
      report.by,
      'calls',
      'prompt_tokens',
      'completion_tokens',
      'tokens',
      'cost_usd',
      'usd_per_call',
      'tokens_per_call',
      'rebilled_calls',
    ],
    ...report.rows.map((row) => [row.key, ...values(row)]),
    ['total', ...values(report.totals)],
  ];
}
