import { parseArgs } from 'node:util';
import {
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { type LaneOutcome, type MoveLane, moveDeadLetters } from '#ops/dead-letter-mover.ts';
import { queueDepth } from '#ops/queue-io.ts';
import {
  errorText,
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

Moves dead letters back to the queue they came from: the intake DLQ to the intake queue (extract), the draft DLQ
to the draft queue, the published DLQ to the published queue. A redriven message resumes its item from its last
checkpoint with a fresh failure budget; answers already in the call ledger are not paid for again. Fix the cause
first: a dead letter whose failure was permanent (an invalid item, the item's token budget, a provider's 400, 401,
403, 404 or 422, a wait past the deferral limit) fails the same way again, and the report warns of those.

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
  --stage extract|draft|published  Only this stage's DLQ (default: all three).
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
  sluice redrive --stage extract --error-class LlmCallError
  sluice redrive --item sample-007 --item sample-019
  sluice redrive --max 100 --rate 10
  sluice redrive --stack Sluice --region eu-west-1 # SQS move tasks for every DLQ
`;

/** How long a message being moved stays hidden: a crash leaves it out of sight no longer than this. */
const HOLD_SECONDS = 60;
/** SQS's limit on a move task's MaxNumberOfMessagesPerSecond. */
const MAX_TASK_RATE = 500;
/** Errors an SQS endpoint answers when it has no message move tasks. */
const UNSUPPORTED = /InvalidAction|UnsupportedOperation|UnknownOperation|not ?implemented|not supported/i;

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

export interface MoveTaskOutcome {
  lane: LaneName;
  from: string;
  to: string;
  /** Messages in the DLQ when the task was started. */
  depth: number;
  taskHandle?: string | undefined;
  status?: string | undefined;
  approximateToMove?: number | undefined;
  failure?: string | undefined;
}

/** What to redrive: the CLI's options, or a console action. */
export interface RedriveRequest {
  stages: readonly LaneName[];
  errorClass?: string | undefined;
  /** Only the dead letters of these items. */
  itemIds?: readonly string[] | undefined;
  max?: number | undefined;
  rate?: number | undefined;
  dryRun: boolean;
}

export interface RedriveFilter {
  stages: readonly LaneName[];
  errorClass: string | undefined;
  max: number | undefined;
  rate: number | undefined;
  itemIds?: readonly string[] | undefined;
}

/** What `sluice redrive --json` prints. */
export type RedriveReport =
  | { target: string; mode: 'move-task'; filter: RedriveFilter; tasks: MoveTaskOutcome[] }
  | {
      target: string;
      mode: 'moved' | 'dry-run';
      filter: RedriveFilter;
      moved: number;
      /** Distinct items among the messages moved: two copies of one item's dead letter count once. */
      items: number;
      left: number;
      leftItems: number;
      failed: number;
      /** Of the moved, those whose failure was permanent: as they are, they fail the same way again. */
      permanent: number;
      /** With an item filter: the items asked for that had no dead letter in the DLQs searched. */
      notFound?: string[];
      lanes: LaneOutcome[];
    };

export interface RedriveResult {
  report: RedriveReport;
  /** Why the messages were moved one by one rather than by SQS's move tasks. */
  note?: string | undefined;
}

/**
 * Moves the dead letters the request selects back to their source queues (or, in a dry run, counts them): with
 * no filter on AWS by SQS's own message move tasks, otherwise one batch at a time (see {@link moveDeadLetters}).
 * @example const { report } = await redrive(target, { stages: ['extract'], errorClass: 'LlmCallError', dryRun: false });
 */
export async function redrive(target: Target, request: RedriveRequest): Promise<RedriveResult> {
  const lanes: MoveLane[] = request.stages.map((name) => {
    const lane = laneOf(target, name);
    return { name, from: lane.deadLetterQueue, to: lane.queue };
  });
  const filter: RedriveFilter = {
    stages: request.stages,
    errorClass: request.errorClass,
    max: request.max,
    rate: request.rate,
    ...(request.itemIds === undefined ? {} : { itemIds: request.itemIds }),
  };
  const filtered = request.errorClass !== undefined || request.max !== undefined || request.itemIds !== undefined;
  let note: string | undefined;
  if (target.kind === 'aws' && !filtered && !request.dryRun) {
    const tasks = await startMoveTasks(target, lanes, request.rate);
    if (tasks !== 'unsupported') {
      return { report: { target: target.description, mode: 'move-task', filter, tasks } };
    }
    note = 'this endpoint has no SQS message move tasks: moving messages one by one';
  } else if (target.kind === 'local' && !request.dryRun) {
    note = 'the local emulator has no SQS message move tasks: moving messages one by one';
  }
  const outcomes = await moveDeadLetters(target.sqs, {
    lanes,
    errorClass: request.errorClass,
    itemIds: request.itemIds,
    max: request.max,
    ratePerSecond: request.rate,
    dryRun: request.dryRun,
    holdSeconds: HOLD_SECONDS,
    waitSeconds: target.kind === 'aws' ? 1 : 0,
  });
  return {
    report: {
      target: target.description,
      mode: request.dryRun ? 'dry-run' : 'moved',
      filter,
      moved: outcomes.reduce((sum, outcome) => sum + total(outcome.moved), 0),
      items: outcomes.reduce((sum, outcome) => sum + outcome.movedItems, 0),
      left: outcomes.reduce((sum, outcome) => sum + total(outcome.left), 0),
      leftItems: outcomes.reduce((sum, outcome) => sum + outcome.leftItems, 0),
      failed: outcomes.reduce((sum, outcome) => sum + outcome.failed.length, 0),
      permanent: outcomes.reduce((sum, outcome) => sum + total(outcome.permanent), 0),
      ...(request.itemIds === undefined ? {} : { notFound: notFound(request.itemIds, outcomes) }),
      lanes: outcomes,
    },
    note,
  };
}

/**
 * The items asked for whose dead letters none of the lanes held (moved, or in a dry run would move). An item's
 * dead letters beyond --max are not counted as missing: they were found, only not moved.
 */
function notFound(itemIds: readonly string[], outcomes: readonly LaneOutcome[]): string[] {
  const found = new Set(outcomes.flatMap((outcome) => outcome.itemIds ?? []));
  return itemIds.filter((id) => !found.has(id));
}

/**
 * Whether a redrive left a message it should have moved: a move task failed, a message could not be sent, or an
 * item asked for had no dead letter.
 */
export function redriveFailed(report: RedriveReport): boolean {
  return report.mode === 'move-task'
    ? report.tasks.some((task) => task.failure !== undefined)
    : report.lanes.some((lane) => lane.failed.length > 0) || (report.notFound ?? []).length > 0;
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

/**
 * One SQS move task per non-empty DLQ, back to its source queue; 'unsupported' when the endpoint has none. The
 * destination is named: SQS knows the source only of messages it moved itself (after maxReceiveCount), and a
 * task without one fails with CouldNotDetermineMessageSource on the handler's dead letters, which it sent itself.
 */
async function startMoveTasks(
  target: Target,
  lanes: readonly MoveLane[],
  rate: number | undefined,
): Promise<MoveTaskOutcome[] | 'unsupported'> {
  const tasks: MoveTaskOutcome[] = [];
  let anyStarted = false;
  for (const lane of lanes) {
    const depth = await queueDepth(target.sqs, lane.from.url);
    const task: MoveTaskOutcome = { lane: lane.name, from: lane.from.url, to: lane.to.url, depth: depth.visible };
    tasks.push(task);
    if (depth.visible === 0) continue;
    try {
      const sourceArn = lane.from.arn ?? (await queueArn(target, lane.from.url));
      const destinationArn = lane.to.arn ?? (await queueArn(target, lane.to.url));
      const started = await target.sqs.send(
        new StartMessageMoveTaskCommand({
          SourceArn: sourceArn,
          DestinationArn: destinationArn,
          ...(rate === undefined ? {} : { MaxNumberOfMessagesPerSecond: Math.max(1, Math.round(rate)) }),
        }),
      );
      task.taskHandle = started.TaskHandle;
      anyStarted = true;
      const { Results = [] } = await target.sqs.send(
        new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 1 }),
      );
      const latest = Results[0];
      task.status = latest?.Status;
      task.approximateToMove = latest?.ApproximateNumberOfMessagesToMove;
      if (latest?.FailureReason) task.failure = latest.FailureReason;
    } catch (error) {
      if (!anyStarted && UNSUPPORTED.test(errorText(error))) return 'unsupported';
      task.failure = errorText(error);
    }
  }
  return tasks;
}

async function queueArn(target: Target, url: string): Promise<string> {
  const { Attributes = {} } = await target.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return Attributes.QueueArn ?? '';
}

/** ` of 1 item(s)` after a count of messages that holds copies of one item's dead letter. */
const copies = (messages: number, items: number) => (items < messages ? ` of ${items} item(s)` : '');
const total = (counts: Record<string, number>) => Object.values(counts).reduce((sum, n) => sum + n, 0);
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
