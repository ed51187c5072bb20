import { parseArgs } from 'node:util';
import { MAX_TASK_RATE, type RedriveReport, redrive, redriveFailed, total } from '#ops/redrive.ts';
import {
  LANE_NAMES,
  type Lane,
  type LaneName,
  laneOf,
  TARGET_HELP,
  TARGET_OPTIONS,
  type Target,
  type TargetRequest,
} from '#ops/target.ts';
import {
  noPositionals,
  parseChoice,
  parseErrorClass,
  parseItemId,
  parsePositiveInteger,
  parsePositiveNumber,
} from './arguments.ts';
import {
  type CommandIo,
  PROCESS_IO,
  printer,
  printJson,
  runOperatorCommand,
  targetRequestOf,
} from './operator-command.ts';
import { EXIT } from './usage-error.ts';

export const REDRIVE_HELP = `Usage: sluice redrive [options]

Moves dead letters back to the queue they came from: each stage's DLQ to the stage's input queue, the published
DLQ to the published queue. A redriven message resumes its item from its last checkpoint with a fresh failure
budget; answers already in the call ledger are not paid for again. Fix the cause first: a dead letter whose
failure was permanent (an invalid item, the item's token budget, a provider's 400, 401, 403, 404 or 422, a wait
past the deferral limit) fails the same way again, and the report warns of those.

With no filter on AWS it starts SQS's own message move task per DLQ (destination named) and reports its handle
and status. With --item, --error-class or --max, or where the endpoint has no move tasks (the local emulator), it moves
messages itself: receive (hidden for 60 s), send to the source queue with body and attributes, then delete from
the DLQ, so a crash midway can duplicate a message but never lose one. Messages that do not match stay in the DLQ
and are visible again when the pass ends. Only a message carrying its item's current deadLetterId attribute
resumes the item: a second copy of one dead letter is acknowledged as a duplicate, and the report counts the
distinct items moved.

Options:
  --item ID            Only the dead letters of this item; repeat for more items. Ids with no dead letter in
                       the DLQs searched are reported (and the exit code is 1).
  --stage ${LANE_NAMES.join('|')}  Only this stage's DLQ (default: every one).
  --error-class CLASS  Only dead letters whose errorClass attribute is CLASS (e.g. LlmCallError,
                       InvalidOutputError, DeferralLimitError; '(none)' for those SQS moved after
                       maxReceiveCount).
  --max N              Move at most N messages in all.
  --rate R             At most R messages per second (SQS's move task: whole numbers up to 500).
  --dry-run            Count what would move, by error class and distinct items; move nothing.
${TARGET_HELP}
Exit codes: 0 done (even if nothing matched); 1 a message could not be sent, an --item with no dead letter, or an
unreachable target; 2 bad usage.

Examples:
  sluice redrive --dry-run                       # what is in the DLQs, by stage and error class
  sluice redrive --stage ${LANE_NAMES[0]} --error-class LlmCallError
  sluice redrive --item sample-007 --item sample-019
  sluice redrive --max 100 --rate 10
  sluice redrive --stack Sluice --region eu-west-1 # SQS move tasks for every DLQ
`;

interface RedriveOptions {
  stages: readonly LaneName[];
  itemIds: string[] | undefined;
  errorClass: string | undefined;
  max: number | undefined;
  rate: number | undefined;
  dryRun: boolean;
  json: boolean;
  target: TargetRequest;
}

function parseRedriveArgs(args: string[]): RedriveOptions | 'help' {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      ...TARGET_OPTIONS,
      stage: { type: 'string' },
      item: { type: 'string', multiple: true },
      'error-class': { type: 'string' },
      max: { type: 'string' },
      rate: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  noPositionals(positionals);
  return {
    stages: values.stage === undefined ? LANE_NAMES : [parseChoice('--stage', values.stage, LANE_NAMES)],
    itemIds: values.item === undefined ? undefined : [...new Set(values.item.map((id) => parseItemId('--item', id)))],
    errorClass:
      values['error-class'] === undefined ? undefined : parseErrorClass('--error-class', values['error-class']),
    max: values.max === undefined ? undefined : parsePositiveInteger('--max', values.max),
    rate: values.rate === undefined ? undefined : parsePositiveNumber('--rate', values.rate, MAX_TASK_RATE),
    dryRun: values['dry-run'],
    json: values.json,
    target: targetRequestOf(values),
  };
}

/**
 * `sluice redrive`: returns the process exit code.
 * @example process.exitCode = await runRedrive(['--help']);
 */
export async function runRedrive(args: string[], io: CommandIo = PROCESS_IO): Promise<number> {
  const options = parseRedriveArgs(args);
  return runOperatorCommand(
    'redrive',
    REDRIVE_HELP,
    options,
    async (target, options) => {
      const { report, note } = await redrive(target, options);
      if (options.json) printJson(report, io);
      else printReport(printer(io), report, target, note, options.max);
      return redriveFailed(report) ? EXIT.failure : EXIT.ok;
    },
    io,
  );
}

/** ` of 1 item(s)` after a count of messages that holds copies of one item's dead letter. */
const copies = (messages: number, items: number) => (items < messages ? ` of ${items} item(s)` : '');
const byClass = (counts: Record<string, number>) =>
  Object.entries(counts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([errorClass, n]) => `${errorClass} ${n}`)
    .join(', ');

function printReport(
  print: (line?: string) => void,
  report: RedriveReport,
  target: Target,
  note: string | undefined,
  max: number | undefined,
) {
  if (note !== undefined) print(note);
  if (report.mode === 'move-task') {
    print(`redrive of ${target.description} with SQS message move tasks`);
    for (const task of report.tasks) {
      const from = movedBetween(laneOf(target, task.lane));
      if (task.depth === 0) print(`  ${from}: empty`);
      else if (task.failure !== undefined) print(`  ${from}: FAILED: ${task.failure}`);
      else
        print(
          `  ${from}: task ${task.status ?? 'started'} for ~${task.approximateToMove ?? task.depth} message(s), handle ${task.taskHandle ?? '?'}`,
        );
    }
    print("follow them with 'aws sqs list-message-move-tasks --source-arn <DLQ ARN>' or 'sluice status'");
    return;
  }
  const { moved, items, left, failed } = report;
  const verb = report.mode === 'dry-run' ? 'would move' : 'moved';
  print(`redrive of ${target.description}${report.mode === 'dry-run' ? ' (dry run: nothing moved)' : ''}`);
  for (const outcome of report.lanes) {
    const from = movedBetween(laneOf(target, outcome.lane));
    const parts = [
      total(outcome.moved) > 0
        ? `${verb} ${total(outcome.moved)} (${byClass(outcome.moved)})${copies(total(outcome.moved), outcome.movedItems)}`
        : `${verb} 0`,
      ...(total(outcome.left) > 0 ? [`left ${total(outcome.left)} (${byClass(outcome.left)})`] : []),
      ...(outcome.failed.length > 0 ? [`FAILED to send ${outcome.failed.length}`] : []),
      ...(outcome.duplicated > 0 ? [`${outcome.duplicated} also left in the DLQ (duplicates)`] : []),
    ];
    print(`  ${from}: ${parts.join('; ')}`);
    for (const failure of outcome.failed) print(`    ${failure.messageId}: ${failure.reason}`);
  }
  print(
    `${verb} ${moved} message(s) of ${items} item(s), left ${left}${failed > 0 ? `, ${failed} failed (still in their DLQ)` : ''}`,
  );
  if (max !== undefined && moved >= max) print(`stopped at --max ${max}`);
  if (report.notFound !== undefined && report.notFound.length > 0) {
    print(`no dead letter in the DLQs searched for ${report.notFound.length} item(s): ${report.notFound.join(', ')}`);
  }
  const permanent: Record<string, number> = {};
  for (const outcome of report.lanes) {
    for (const [errorClass, n] of Object.entries(outcome.permanent))
      permanent[errorClass] = (permanent[errorClass] ?? 0) + n;
  }
  if (report.permanent > 0) {
    print(
      `note: ${report.permanent} message(s) ${report.mode === 'dry-run' ? 'would be ' : ''}redriven after a permanent failure ` +
        `(${byClass(permanent)}) fail the same way again unless the cause is fixed: re-send a fixed item, raise its ` +
        'token budget, fix what the provider refused',
    );
  }
}

/** Where a lane's dead letters go back to, as the report says it: `intake DLQ → intake`. */
function movedBetween(lane: Lane): string {
  return `${lane.deadLetterQueue.label} → ${lane.queue.label}`;
}
