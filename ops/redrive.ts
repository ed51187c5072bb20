import {
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { type LaneOutcome, type MoveLane, moveDeadLetters } from '#ops/dead-letter-mover.ts';
import { queueDepth } from '#ops/queue-io.ts';
import { errorText, type LaneName, laneOf, type Target } from '#ops/target.ts';

/**
 * Redriving dead letters: SQS message move tasks where the endpoint has them, else a held move that sends each
 * message back to its source queue before deleting it; by item, stage and error class. For `sluice redrive` and
 * the console.
 */

/** How long a message being moved stays hidden: a crash leaves it out of sight no longer than this. */
const HOLD_SECONDS = 60;
/** SQS's limit on a move task's MaxNumberOfMessagesPerSecond. */
export const MAX_TASK_RATE = 500;
/** Errors an SQS endpoint answers when it has no message move tasks. */
const UNSUPPORTED = /InvalidAction|UnsupportedOperation|UnknownOperation|not ?implemented|not supported/i;

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

/** The sum of counts by error class. @example total({ LlmCallError: 2, InvalidItemError: 1 }) // 3 */
export const total = (counts: Record<string, number>) => Object.values(counts).reduce((sum, n) => sum + n, 0);
