import { parseArgs } from 'node:util';
import {
  COST_GROUPS,
  type CostGroup,
  type CostRow,
  type CostsReport,
  defaultSince,
  MAX_COST_DAYS,
  readCosts,
} from '#ops/costs.ts';
import { daysBetween } from '#ops/days.ts';
import { TARGET_HELP, TARGET_OPTIONS, type TargetRequest } from '#ops/target.ts';
import { utcDay } from '#shared/budget.ts';
import { noPositionals, parseChoice, parseDay } from './arguments.ts';
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
