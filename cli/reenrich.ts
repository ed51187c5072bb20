import { parseArgs } from 'node:util';
import { sendBodies } from '#ops/queue-io.ts';
import { reenrichingLane, TARGET_HELP, TARGET_OPTIONS, type Target, type TargetRequest } from '#ops/target.ts';
import { readBreakerRecord } from '#shared/circuit-breaker.ts';
import { itemsWithoutHistory } from '#shared/degraded-items.ts';
import { NO_HISTORY } from '#shared/item-claim.ts';
import { MEMORY_DEPENDENCY } from '#shared/metric-catalogue.ts';
import { noPositionals, parseInstant, parsePositiveInteger } from './arguments.ts';
import {
  CommandError,
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
 * Ids of the published items flagged NO_HISTORY, oldest first.
 * @example const ids = await itemIdsWithoutHistory(target, '2026-11-01T00:00:00.000Z', 50);
 */
export async function itemIdsWithoutHistory(
  target: Target,
  since: string | undefined,
  max: number | undefined,
): Promise<string[]> {
  const items = await itemsWithoutHistory(target.dynamo, target.stateTableName, { since, max });
  return items.map((item) => item.itemId);
}

/** Throws CommandError while the memory breaker is not closed. */
async function requireMemoryBreakerClosed(target: Target): Promise<void> {
  const breaker = await readBreakerRecord(target.dynamo, target.stateTableName, MEMORY_DEPENDENCY);
  if (breaker.state === 'closed') return;
  // Open with its cooldown over: the first redraft's lookup is the probe that closes it (or opens it again).
  if (breaker.state === 'open' && (breaker.openUntil ?? 0) <= Date.now()) return;
  const at = (ms: number | undefined) => (ms === undefined ? '?' : new Date(ms).toISOString());
  const probe =
    breaker.state === 'open'
      ? `a draft may probe the memory store from ${at(breaker.openUntil)}`
      : `a draft is probing the memory store (until ${at(breaker.probeUntil)})`;
  throw new CommandError(
    `the memory breaker is ${breaker.state} (opened ${at(breaker.openedAt)}): redrafts now would go without history ` +
      `again. It closes after a draft's successful memory lookup (${probe}); try again once 'sluice status' shows it closed.`,
  );
}

/** What `sluice reenrich --json` prints. */
export interface ReenrichReport {
  target: string;
  since: string | null;
  dryRun: boolean;
  found: number;
  sent: number;
  itemIds: string[];
}

export interface ReenrichRequest {
  /** An ISO 8601 instant: only items last updated since then. */
  since?: string | undefined;
  max?: number | undefined;
  dryRun: boolean;
}

/**
 * Re-queues the published items flagged NO_HISTORY on the draft queue (or, in a dry run, lists them).
 * @throws {CommandError} while the memory breaker is open, or when a send fails (naming how many were sent).
 * @example const report = await reenrich(target, { since: '2026-11-01T00:00:00.000Z', dryRun: true });
 */
export async function reenrich(target: Target, request: ReenrichRequest): Promise<ReenrichReport> {
  await requireMemoryBreakerClosed(target);
  const itemIds = await itemIdsWithoutHistory(target, request.since, request.max);
  const queueUrl = reenrichingLane(target).queue.url;
  let sent = 0;
  if (!request.dryRun && itemIds.length > 0) {
    const bodies = itemIds.map((itemId) => JSON.stringify({ itemId, reenrich: true }));
    try {
      sent = (
        await sendBodies(target.sqs, queueUrl, bodies, (count) => {
          sent = count;
        })
      ).length;
    } catch (error) {
      throw new CommandError(`re-queued ${sent} of ${itemIds.length} item(s), then: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  return {
    target: target.description,
    since: request.since ?? null,
    dryRun: request.dryRun,
    found: itemIds.length,
    sent,
    itemIds,
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
