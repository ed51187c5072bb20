import { userInfo } from 'node:os';
import { createInterface } from 'node:readline/promises';
import { parseArgs } from 'node:util';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { type MoveLane, moveDeadLetters } from '#ops/dead-letter-mover.ts';
import { shown } from '#ops/errors.ts';
import {
  LANE_NAMES,
  type LaneName,
  laneOf,
  TARGET_HELP,
  TARGET_OPTIONS,
  type Target,
  type TargetRequest,
} from '#ops/target.ts';
import { StateConflictError } from '#shared/errors.ts';
import { type ItemRecord, ItemStore } from '#shared/item-store.ts';
import { itemKey } from '#shared/table-keys.ts';
import { noPositionals, parseChoice, parseErrorClass, parseItemId, parsePositiveInteger } from './arguments.ts';
import {
  type CommandIo,
  PROCESS_IO,
  printer,
  printJson,
  runOperatorCommand,
  targetRequestOf,
} from './operator-command.ts';
import { renderTable } from './text-table.ts';
import { EXIT, UsageError } from './usage-error.ts';

/** Longest --reason, as for `sluice pause`. */
const MAX_REASON_LENGTH = 500;

export const DISCARD_HELP = `Usage: sluice discard (--item ID... | --stage S | --error-class CLASS) --reason TEXT [options]

Gives up on dead letters on purpose: each selected item in state DEAD_LETTER becomes DISCARDED, with who discarded
it, when and why on its record (and an audit record beside it), and then its dead letters are deleted from the
DLQs. DISCARDED is final: a later delivery of the item's message, a duplicate or a copy of its dead letter is
acknowledged and changes nothing, and the item counts as accounted for (not lost). Items in any other state are
left as they are. It cannot be undone: to try an item again, send it anew under a new id.

The state is written before the dead letters are deleted, so a crash in between leaves only harmless copies in a
DLQ (a redrive of one changes nothing); running the same discard again deletes them.

Options:
  --item ID            Discard this item; repeat for more. Ids with no dead letter in the DLQs searched are
                       reported (and the exit code is 1).
  --stage ${LANE_NAMES.join('|')}  Only dead letters of this stage's DLQ (default: every one).
  --error-class CLASS  Only dead letters whose errorClass attribute is CLASS.
  --max N              Select at most N dead letters.
  --reason TEXT        Why (required, 1 to ${MAX_REASON_LENGTH} characters): recorded on each item.
  --by NAME            Who discards (default: the operating-system user running the command).
  --yes                Discard without asking. Without it, a terminal is asked to confirm, and anything
                       else is refused.
  --dry-run            List what would be discarded; change nothing.
${TARGET_HELP}
Exit codes: 0 every selected item discarded (or, with --dry-run, listed); 1 an --item with no dead letter, an item
not in DEAD_LETTER, a dead letter that could not be deleted, or an unreachable target; 2 bad usage.

Examples:
  sluice discard --item sample-007 --reason 'feed removed the article' --dry-run
  sluice discard --item sample-007 --item sample-019 --reason 'spam' --yes
  sluice discard --error-class InvalidItemError --reason 'old feed format, will not be fixed' --by alice --yes
`;

/** How long a dead letter being read or deleted stays hidden: a crash leaves it out of sight no longer than this. */
const HOLD_SECONDS = 60;

interface DiscardOptions {
  request: DiscardRequest;
  yes: boolean;
  json: boolean;
  target: TargetRequest;
}

/** What to discard and on whose word. */
export interface DiscardRequest {
  stages: readonly LaneName[];
  itemIds?: readonly string[] | undefined;
  errorClass?: string | undefined;
  max?: number | undefined;
  by: string;
  reason: string;
  dryRun: boolean;
}

function parseDiscardArgs(args: string[], stdinIsTerminal: boolean): DiscardOptions | 'help' {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      ...TARGET_OPTIONS,
      item: { type: 'string', multiple: true },
      stage: { type: 'string' },
      'error-class': { type: 'string' },
      max: { type: 'string' },
      reason: { type: 'string' },
      by: { type: 'string' },
      yes: { type: 'boolean', default: false },
      'dry-run': { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  noPositionals(positionals);
  if (values.item === undefined && values.stage === undefined && values['error-class'] === undefined) {
    throw new UsageError('name what to discard: --item ID, or --stage / --error-class');
  }
  const reason = values.reason?.trim();
  if (reason === undefined) throw new UsageError('say why with --reason TEXT: it is recorded on each item');
  if (reason.length === 0 || reason.length > MAX_REASON_LENGTH) {
    throw new UsageError(`--reason must be 1 to ${MAX_REASON_LENGTH} characters (got ${reason.length})`);
  }
  const by = values.by?.trim() ?? osUser();
  if (by.length === 0 || by.length > 200) throw new UsageError(`--by must be 1 to 200 characters (got ${by.length})`);
  const dryRun = values['dry-run'];
  if (!dryRun && !values.yes && !stdinIsTerminal) {
    throw new UsageError('discarding cannot be undone: pass --yes to confirm (--dry-run lists what would go)');
  }
  return {
    request: {
      stages: values.stage === undefined ? LANE_NAMES : [parseChoice('--stage', values.stage, LANE_NAMES)],
      itemIds: values.item === undefined ? undefined : [...new Set(values.item.map((id) => parseItemId('--item', id)))],
      errorClass:
        values['error-class'] === undefined ? undefined : parseErrorClass('--error-class', values['error-class']),
      max: values.max === undefined ? undefined : parsePositiveInteger('--max', values.max),
      by,
      reason,
      dryRun,
    },
    yes: values.yes,
    json: values.json,
    target: targetRequestOf(values),
  };
}

/** The operating-system user running the command: who discarded, when --by does not say. */
function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? process.env.USERNAME ?? 'unknown';
  }
}

export interface DiscardedItem {
  itemId: string;
  /** `left`: not discarded (see `note`); `already`: it was DISCARDED before, its leftover dead letters go. */
  outcome: 'discarded' | 'would discard' | 'already' | 'left';
  /** The state it was in. */
  state?: string | undefined;
  /** What it died of. */
  errorClass?: string | undefined;
  stage?: string | undefined;
  note?: string | undefined;
}

/** What `sluice discard --json` prints. */
export interface DiscardReport {
  target: string;
  mode: 'discarded' | 'dry-run';
  filter: { stages: readonly LaneName[]; itemIds?: readonly string[]; errorClass?: string; max?: number };
  by: string;
  reason: string;
  at: string;
  items: DiscardedItem[];
  /** Dead letters deleted from the DLQs. */
  deleted: number;
  /** Dead letters that could not be deleted: still in their DLQ. */
  failed: { messageId: string; reason: string }[];
  /** With --item: the items asked for that had no dead letter in the DLQs searched. */
  notFound?: string[];
}

/**
 * Discards the dead-lettered items the request selects: DEAD_LETTER → DISCARDED with who, when and why (a
 * conditional write on the version read, so an item a redrive resumed meanwhile is left alone), an audit record,
 * then their dead letters deleted. In a dry run, only lists them.
 * @example const report = await discard(target, { stages: LANE_NAMES, itemIds: ['x'], by: 'alice', reason: 'spam', dryRun: false });
 */
async function discard(target: Target, request: DiscardRequest, now = Date.now): Promise<DiscardReport> {
  const lanes: MoveLane[] = request.stages.map((name) => {
    const lane = laneOf(target, name);
    return { name, from: lane.deadLetterQueue, to: lane.queue };
  });
  const common = { lanes, holdSeconds: HOLD_SECONDS, waitSeconds: target.kind === 'aws' ? 1 : 0 };
  // Select: one pass over the DLQs that moves nothing and lists the items whose dead letters match.
  const selection = await moveDeadLetters(target.sqs, {
    ...common,
    errorClass: request.errorClass,
    itemIds: request.itemIds,
    max: request.max,
    dryRun: true,
    collectItemIds: true,
  });
  const selected = [...new Set(selection.flatMap((lane) => lane.itemIds ?? []).filter((id) => id !== ''))].sort();
  const at = new Date(now()).toISOString();
  const store = new ItemStore(target.dynamo, target.stateTableName, now);
  const items: DiscardedItem[] = [];
  for (const itemId of selected) {
    items.push(await discardItem(target, store, itemId, request, at));
  }
  const gone = items.filter((item) => item.outcome === 'discarded' || item.outcome === 'already');
  const deletion =
    request.dryRun || gone.length === 0
      ? []
      : await moveDeadLetters(target.sqs, {
          ...common,
          itemIds: gone.map((item) => item.itemId),
          dryRun: false,
          action: 'delete',
        });
  const found = new Set(selected);
  return {
    target: target.description,
    mode: request.dryRun ? 'dry-run' : 'discarded',
    filter: {
      stages: request.stages,
      ...(request.itemIds === undefined ? {} : { itemIds: request.itemIds }),
      ...(request.errorClass === undefined ? {} : { errorClass: request.errorClass }),
      ...(request.max === undefined ? {} : { max: request.max }),
    },
    by: request.by,
    reason: request.reason,
    at,
    items,
    deleted: deletion.reduce((sum, lane) => sum + Object.values(lane.moved).reduce((a, b) => a + b, 0), 0),
    failed: deletion.flatMap((lane) => lane.failed),
    ...(request.itemIds === undefined ? {} : { notFound: request.itemIds.filter((id) => !found.has(id)) }),
  };
}

async function discardItem(
  target: Target,
  store: ItemStore,
  itemId: string,
  request: DiscardRequest,
  at: string,
): Promise<DiscardedItem> {
  const item = await store.get(itemId);
  if (item === undefined) return { itemId, outcome: 'left', note: 'no item record: its dead letter is left' };
  const died = { state: item.state, errorClass: item.deadLetter?.errorClass, stage: item.deadLetter?.stage };
  if (item.state === 'DISCARDED') return { itemId, outcome: 'already', ...died };
  if (item.state !== 'DEAD_LETTER') {
    return { itemId, outcome: 'left', ...died, note: `${item.state}, not a dead letter: left as it is` };
  }
  if (request.dryRun) return { itemId, outcome: 'would discard', ...died };
  try {
    await store.update(item, {
      state: 'DISCARDED',
      set: { discarded: { by: request.by, reason: request.reason, at } },
    });
  } catch (error) {
    if (!(error instanceof StateConflictError)) throw error;
    return { itemId, outcome: 'left', ...died, note: 'it changed while being discarded (a redrive?): left as it is' };
  }
  await writeAudit(target, item, request, at);
  return { itemId, outcome: 'discarded', ...died };
}

/** The audit record beside the item (`sk = AUDIT#<at>#discard`): who discarded it, when, why, and from what. */
async function writeAudit(target: Target, item: ItemRecord, request: DiscardRequest, at: string): Promise<void> {
  await target.dynamo.send(
    new PutCommand({
      TableName: target.stateTableName,
      Item: {
        pk: itemKey(item.itemId).pk,
        sk: `AUDIT#${at}#discard`,
        action: 'discard',
        by: request.by,
        reason: request.reason,
        at,
        fromState: item.state,
        ...(item.deadLetter === undefined ? {} : { deadLetter: item.deadLetter }),
      },
    }),
  );
}

/** Whether the discard left something it was asked to do: an item not discarded, a dead letter not deleted. */
function discardFailed(report: DiscardReport): boolean {
  return (
    report.items.some((item) => item.outcome === 'left') ||
    report.failed.length > 0 ||
    (report.notFound ?? []).length > 0
  );
}

/**
 * `sluice discard`: returns the process exit code.
 * @example process.exitCode = await runDiscard(['--help']);
 */
export async function runDiscard(
  args: string[],
  io: CommandIo = PROCESS_IO,
  stdin: NodeJS.ReadStream = process.stdin,
): Promise<number> {
  const options = parseDiscardArgs(args, stdin.isTTY === true);
  return runOperatorCommand(
    'discard',
    DISCARD_HELP,
    options,
    async (target, options) => {
      let request = options.request;
      if (!request.dryRun && !options.yes) {
        // A person at a terminal: show what would go, then ask.
        const preview = await discard(target, { ...request, dryRun: true });
        printReport(printer(io), preview);
        const candidates = preview.items.filter((item) => item.outcome === 'would discard').length;
        if (candidates === 0) return discardFailed(preview) ? EXIT.failure : EXIT.ok;
        if (!(await confirm(stdin, io, `discard ${candidates} item(s) for good? [y/N] `))) {
          printer(io)('nothing discarded');
          return EXIT.ok;
        }
        request = { ...request, itemIds: preview.items.map((item) => item.itemId), errorClass: undefined };
      }
      const report = await discard(target, request);
      if (options.json) printJson(report, io);
      else printReport(printer(io), report);
      return discardFailed(report) ? EXIT.failure : EXIT.ok;
    },
    io,
  );
}

async function confirm(stdin: NodeJS.ReadStream, io: CommandIo, question: string): Promise<boolean> {
  const lines = createInterface({ input: stdin, output: io.out as NodeJS.WritableStream });
  try {
    return /^y(es)?$/i.test((await lines.question(question)).trim());
  } finally {
    lines.close();
  }
}

const OUTCOME_WORDS: Record<DiscardedItem['outcome'], string> = {
  discarded: 'DISCARDED',
  'would discard': 'would discard',
  already: 'already DISCARDED',
  left: 'LEFT',
};

function printReport(print: (line?: string) => void, report: DiscardReport) {
  const dry = report.mode === 'dry-run' ? ' (dry run: nothing changed)' : '';
  print(`discard on ${report.target} by ${report.by}${dry}: ${shown(report.reason)}`);
  if (report.items.length === 0) print('  no dead letter matched');
  const rows = report.items.map((item) => [
    item.itemId,
    OUTCOME_WORDS[item.outcome],
    item.errorClass === undefined ? '' : `${item.errorClass} in ${item.stage ?? '?'}`,
    item.note ?? '',
  ]);
  if (rows.length > 0) {
    for (const line of renderTable(['item', 'outcome', 'dead-lettered by', 'note'], rows, [
      'left',
      'left',
      'left',
      'left',
    ])) {
      print(`  ${line}`);
    }
  }
  if (report.mode === 'discarded') print(`deleted ${report.deleted} dead letter(s) from the DLQs`);
  for (const failure of report.failed) print(`  FAILED to delete ${failure.messageId}: ${failure.reason}`);
  if (report.notFound !== undefined && report.notFound.length > 0) {
    print(`no dead letter in the DLQs searched for ${report.notFound.length} item(s): ${report.notFound.join(', ')}`);
  }
}
