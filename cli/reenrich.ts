import { parseArgs } from 'node:util';
import { reenrich } from '#ops/reenrich.ts';
import { TARGET_HELP, TARGET_OPTIONS, type TargetRequest } from '#ops/target.ts';
import { NO_HISTORY } from '#shared/degraded-items.ts';
import { noPositionals, parseInstant, parsePositiveInteger } from './arguments.ts';
import {
  type CommandIo,
  PROCESS_IO,
  printer,
  printJson,
  runOperatorCommand,
  targetRequestOf,
} from './operator-command.ts';
import { EXIT } from './usage-error.ts';

export const REENRICH_HELP = `Usage: sluice reenrich [options]

Re-queues published items that were drafted without history (flagged NO_HISTORY because the memory store was
down or slow) for a redraft with related items: sends { "itemId": "<id>", "reenrich": true } to the draft queue
for each. Refuses while the memory breaker is open: those redrafts would go without history again.

Options:
  --since DATE         Only items published (last updated) since: YYYY-MM-DD, a date-time, or an age like 7d
                       (default: all).
  --max N              Re-queue at most N items (oldest first).
  --dry-run            List the items; send nothing.
${TARGET_HELP}
Exit codes: 0 done (even if no item was flagged); 1 the memory breaker is open, a send failed, or an unreachable
target; 2 bad usage.

Examples:
  sluice reenrich --dry-run
  sluice reenrich --since 2d --max 50
  sluice reenrich --stack Sluice --region eu-west-1 --json
`;

interface ReenrichOptions {
  since: string | undefined;
  max: number | undefined;
  dryRun: boolean;
  json: boolean;
  target: TargetRequest;
}

function parseReenrichArgs(args: string[], now = Date.now()): ReenrichOptions | 'help' {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      ...TARGET_OPTIONS,
      since: { type: 'string' },
      max: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  noPositionals(positionals);
  return {
    since: values.since === undefined ? undefined : new Date(parseInstant('--since', values.since, now)).toISOString(),
    max: values.max === undefined ? undefined : parsePositiveInteger('--max', values.max),
    dryRun: values['dry-run'],
    json: values.json,
    target: targetRequestOf(values),
  };
}

/**
 * `sluice reenrich`: returns the process exit code.
 * @example process.exitCode = await runReenrich(['--help']);
 */
export async function runReenrich(args: string[], io: CommandIo = PROCESS_IO): Promise<number> {
  const options = parseReenrichArgs(args);
  return runOperatorCommand(
    'reenrich',
    REENRICH_HELP,
    options,
    async (target, options) => {
      const report = await reenrich(target, options);
      if (options.json) {
        printJson(report, io);
        return EXIT.ok;
      }
      const { itemIds, sent } = report;
      const print = printer(io);
      const scope = options.since === undefined ? '' : ` since ${options.since}`;
      if (itemIds.length === 0) {
        print(`no published item flagged ${NO_HISTORY}${scope} in ${target.description}`);
        return EXIT.ok;
      }
      print(
        options.dryRun
          ? `dry run: would re-queue ${itemIds.length} item(s) flagged ${NO_HISTORY}${scope} for a redraft with history`
          : `re-queued ${sent} item(s) flagged ${NO_HISTORY}${scope} on the draft queue of ${target.description} for a redraft with history`,
      );
      for (const itemId of itemIds) print(`  ${itemId}`);
      return EXIT.ok;
    },
    io,
  );
}
