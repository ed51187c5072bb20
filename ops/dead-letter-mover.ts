import {
  type BatchResultErrorEntry,
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { PERMANENT_ERROR_CLASSES } from '#shared/errors.ts';
import { FAILURE_KIND_ATTRIBUTE } from '#shared/stage-queues.ts';
import type { LaneName, QueueRef } from './target.ts';

/**
 * Moves dead letters back to their source queue one batch at a time, for redrives SQS's own move task cannot do
 * (a filter on the error class, a maximum count) or where the endpoint lacks it (the local emulator).
 *
 * Each message is received under a visibility timeout, sent to the source queue, and only then deleted from the
 * DLQ: a crash between the two leaves the message in both queues (it comes back in the DLQ when its visibility
 * timeout lapses), so the worst case is a duplicate, which the stages treat as a redelivery; a message is never
 * deleted before its copy is sent. Messages that do not match stay hidden for the rest of the pass, so each is
 * looked at once, and are made visible again as soon as the pass over their queue ends (or at most
 * `holdSeconds` after a crash).
 *
 * A message goes back as SQS's own move task sends it: the same body and every message attribute, as a new message
 * (new id, new timestamps). The stages need the `deadLetterId` attribute to tell a redrive from a stale duplicate.
 */

/** Class of a dead letter SQS moved itself after maxReceiveCount receives (a crash backstop): it carries none. */
const NO_ERROR_CLASS = '(none)';

const BATCH = 10;

export interface MoveLane {
  name: LaneName;
  from: QueueRef;
  to: QueueRef;
}

export interface MoveRequest {
  lanes: readonly MoveLane[];
  /** Only dead letters with this `errorClass` attribute; all when absent. */
  errorClass?: string | undefined;
  /** Only dead letters of these items (see {@link itemIdOf}); all when absent. */
  itemIds?: readonly string[] | undefined;
  /** Most messages to move over all lanes. */
  max?: number | undefined;
  /** Most messages sent per second. */
  ratePerSecond?: number | undefined;
  /** Count what would move; move nothing. */
  dryRun: boolean;
  /**
   * `delete`: delete the matching dead letters instead of sending them back (`sluice discard`, once their items are
   * DISCARDED). @default 'move'
   */
  action?: 'move' | 'delete' | undefined;
  /** List the ids of the items whose dead letters matched, even with no item filter. */
  collectItemIds?: boolean | undefined;
  /** Visibility timeout of the messages being handled: how long a crash can leave them hidden. */
  holdSeconds: number;
  /** Long-poll wait of each receive: a short poll on AWS samples only some servers and may miss messages. */
  waitSeconds: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** Told the running total after each batch moved. */
  onMoved?: (moved: number) => void;
}

export interface LaneOutcome {
  lane: LaneName;
  from: string;
  to: string;
  /** Moved (or, in a dry run, would move), by error class. */
  moved: Record<string, number>;
  /** Looked at and left in the DLQ (not matching the filter, or beyond --max), by error class. */
  left: Record<string, number>;
  /** Could not be sent: still in the DLQ. */
  failed: { messageId: string; reason: string }[];
  /** Sent, but the delete from the DLQ failed: they come back in the DLQ too (a harmless duplicate). */
  duplicated: number;
  /** Distinct items among the messages moved (or, in a dry run, that would move): copies of one count once. */
  movedItems: number;
  /** Distinct items among the messages left. */
  leftItems: number;
  /** Of the moved, those whose failure was permanent (see {@link isPermanentDeadLetter}), by error class. */
  permanent: Record<string, number>;
  /** With an item filter (or `collectItemIds`): the items whose dead letters were moved (in a dry run, would be). */
  itemIds?: string[];
}

/**
 * @example
 * const outcomes = await moveDeadLetters(sqs, {
 *   lanes: [{ name: 'extract', from: intakeDlq, to: intakeQueue }],
 *   errorClass: 'LlmCallError', dryRun: false, holdSeconds: 60, waitSeconds: 1,
 * });
 */
export async function moveDeadLetters(sqs: SQSClient, request: MoveRequest): Promise<LaneOutcome[]> {
  const now = request.now ?? Date.now;
  const sleep = request.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const pace = pacer(request.ratePerSecond, now, sleep);
  let movedTotal = 0;
  const room = () => (request.max === undefined ? Number.POSITIVE_INFINITY : request.max - movedTotal);
  const receiveSize =
    request.ratePerSecond === undefined
      ? BATCH
      : Math.max(1, Math.min(BATCH, Math.floor((request.ratePerSecond * request.holdSeconds) / 2)));
  const outcomes: LaneOutcome[] = [];
  const itemIds = request.itemIds === undefined ? undefined : new Set(request.itemIds);
  const collect = itemIds !== undefined || request.collectItemIds === true;
  const wanted = (message: Message) =>
    (request.errorClass === undefined || errorClassOf(message) === request.errorClass) &&
    (itemIds === undefined || itemIds.has(itemIdOf(message) ?? ''));

  for (const lane of request.lanes) {
    const outcome: LaneOutcome = {
      lane: lane.name,
      from: lane.from.url,
      to: lane.to.url,
      moved: {},
      left: {},
      failed: [],
      duplicated: 0,
      movedItems: 0,
      leftItems: 0,
      permanent: {},
    };
    outcomes.push(outcome);
    const movedItems = new Set<string>();
    const leftItems = new Set<string>();
    const matched = new Set<string>();
    // Messages not moved in this pass, hidden until it ends: message id → latest receipt handle.
    const held = new Map<string, string>();
    const seen = new Set<string>();
    try {
      while (room() > 0) {
        const { Messages = [] } = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: lane.from.url,
            MaxNumberOfMessages: receiveSize,
            VisibilityTimeout: request.holdSeconds,
            WaitTimeSeconds: request.waitSeconds,
            MessageAttributeNames: ['All'],
            MessageSystemAttributeNames: ['All'],
          }),
        );
        if (Messages.length === 0) break;
        const toMove: Message[] = [];
        for (const message of Messages) {
          const id = message.MessageId;
          const handle = message.ReceiptHandle;
          if (id === undefined || handle === undefined) continue;
          if (seen.has(id)) {
            // Its hold lapsed during a long pass and it came round again: it was counted already.
            held.set(id, handle);
            continue;
          }
          seen.add(id);
          if (wanted(message) && toMove.length < room()) {
            toMove.push(message);
          } else {
            held.set(id, handle);
            increment(outcome.left, errorClassOf(message));
            leftItems.add(itemKeyOf(message));
          }
        }
        if (request.dryRun) {
          for (const message of toMove) {
            held.set(message.MessageId ?? '', message.ReceiptHandle ?? '');
            increment(outcome.moved, errorClassOf(message));
            if (isPermanentDeadLetter(message)) increment(outcome.permanent, errorClassOf(message));
            movedItems.add(itemKeyOf(message));
            if (collect) matched.add(itemIdOf(message) ?? '');
          }
          movedTotal += toMove.length;
          continue;
        }
        for (let start = 0; start < toMove.length; start += pace.batch) {
          const batch = toMove.slice(start, start + pace.batch);
          await pace.wait(batch.length);
          const delivered =
            request.action === 'delete'
              ? await deleteOnly(sqs, lane, batch, outcome, held)
              : await sendThenDelete(sqs, lane, batch, outcome, held);
          for (const message of delivered) {
            movedItems.add(itemKeyOf(message));
            if (isPermanentDeadLetter(message)) increment(outcome.permanent, errorClassOf(message));
            if (collect) matched.add(itemIdOf(message) ?? '');
          }
          movedTotal += delivered.length;
          request.onMoved?.(movedTotal);
        }
      }
    } finally {
      outcome.movedItems = movedItems.size;
      outcome.leftItems = leftItems.size;
      if (collect) outcome.itemIds = [...matched].sort();
      await release(sqs, lane.from.url, held);
    }
  }
  return outcomes;
}

/** Sends the batch to the source queue, then deletes from the DLQ what was sent. Returns the messages moved. */
async function sendThenDelete(
  sqs: SQSClient,
  lane: MoveLane,
  batch: readonly Message[],
  outcome: LaneOutcome,
  held: Map<string, string>,
): Promise<Message[]> {
  const sent = await sqs.send(
    new SendMessageBatchCommand({
      QueueUrl: lane.to.url,
      Entries: batch.map((message, index) => ({
        Id: String(index),
        MessageBody: message.Body ?? '',
        MessageAttributes: attributesOf(message),
      })),
    }),
  );
  const delivered = settleBatch(batch, sent, outcome, held);
  if (delivered.length === 0) return [];
  const deleted = await sqs.send(
    new DeleteMessageBatchCommand({
      QueueUrl: lane.from.url,
      Entries: delivered.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle ?? '' })),
    }),
  );
  outcome.duplicated += deleted.Failed?.length ?? 0;
  for (const message of delivered) increment(outcome.moved, errorClassOf(message));
  return delivered;
}

/** Deletes the batch from the DLQ. Returns the messages deleted; those it could not delete stay held. */
async function deleteOnly(
  sqs: SQSClient,
  lane: MoveLane,
  batch: readonly Message[],
  outcome: LaneOutcome,
  held: Map<string, string>,
): Promise<Message[]> {
  const deleted = await sqs.send(
    new DeleteMessageBatchCommand({
      QueueUrl: lane.from.url,
      Entries: batch.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle ?? '' })),
    }),
  );
  const gone = settleBatch(batch, deleted, outcome, held);
  for (const message of gone) increment(outcome.moved, errorClassOf(message));
  return gone;
}

/**
 * The messages of `batch` a batch request (send or delete, its entries ids by index) succeeded for. Those it failed
 * for stay held and are recorded as failed with the reason SQS gave.
 */
function settleBatch(
  batch: readonly Message[],
  answer: { Successful?: readonly { Id?: string | undefined }[]; Failed?: readonly BatchResultErrorEntry[] },
  outcome: LaneOutcome,
  held: Map<string, string>,
): Message[] {
  for (const failure of answer.Failed ?? []) {
    const message = batch[Number(failure.Id)];
    if (message?.MessageId === undefined || message.ReceiptHandle === undefined) continue;
    held.set(message.MessageId, message.ReceiptHandle);
    outcome.failed.push({ messageId: message.MessageId, reason: `${failure.Code}: ${failure.Message ?? ''}` });
  }
  return (answer.Successful ?? []).flatMap((success) => {
    const message = batch[Number(success.Id)];
    return message === undefined ? [] : [message];
  });
}

/** Makes the held messages visible again now rather than when their hold lapses. Best effort: they lapse anyway. */
async function release(sqs: SQSClient, queueUrl: string, held: ReadonlyMap<string, string>): Promise<void> {
  const handles = [...held.values()];
  for (let start = 0; start < handles.length; start += BATCH) {
    await sqs
      .send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: handles.slice(start, start + BATCH).map((handle, index) => ({
            Id: String(index),
            ReceiptHandle: handle,
            VisibilityTimeout: 0,
          })),
        }),
      )
      .catch(() => undefined);
  }
}

/** The error class a dead letter carries. @example errorClassOf(message) // 'LlmCallError' */
export function errorClassOf(message: Message): string {
  return message.MessageAttributes?.errorClass?.StringValue ?? NO_ERROR_CLASS;
}

/**
 * Whether a dead letter's failure was permanent, so that redriving it as it is fails the same way: as the retry
 * policy classed it (the `failureKind` attribute), or, for dead letters from before that attribute, by an error
 * class that is always permanent. The one rule behind every redrive warning.
 * @example isPermanentDeadLetter(message) // true for an InvalidItemError or a provider's 400
 */
function isPermanentDeadLetter(message: Message): boolean {
  const kind = message.MessageAttributes?.[FAILURE_KIND_ATTRIBUTE]?.StringValue;
  if (kind !== undefined) return kind === 'permanent';
  return PERMANENT_ERROR_CLASSES.includes(errorClassOf(message));
}

/**
 * The item a dead letter belongs to: its `itemId` attribute, or for a message SQS moved itself (which carries
 * none) the id in its body (`itemId` on the draft and published queues, `id` on the intake queue).
 * @example itemIdOf(message) // 'sample-001'
 */
export function itemIdOf(message: Message): string | undefined {
  const attribute = message.MessageAttributes?.itemId?.StringValue;
  if (attribute !== undefined && attribute !== '-') return attribute;
  try {
    const body: unknown = JSON.parse(message.Body ?? '');
    if (typeof body !== 'object' || body === null) return undefined;
    const { itemId, id } = body as { itemId?: unknown; id?: unknown };
    if (typeof itemId === 'string') return itemId;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The item a message counts for in a triage: its item id, or its message id when it names none (each such message
 * is then its own item, as the stage would take it).
 */
function itemKeyOf(message: Message): string {
  const itemId = itemIdOf(message);
  return itemId === undefined ? `message ${message.MessageId ?? ''}` : `item ${itemId}`;
}

/** Every message attribute, as SQS's move task keeps them. */
function attributesOf(message: Message): Record<string, MessageAttributeValue> | undefined {
  const kept = Object.entries(message.MessageAttributes ?? {});
  if (kept.length === 0) return undefined;
  return Object.fromEntries(
    kept.map(([name, value]) => [
      name,
      {
        DataType: value.DataType,
        ...(value.StringValue === undefined ? {} : { StringValue: value.StringValue }),
        ...(value.BinaryValue === undefined ? {} : { BinaryValue: value.BinaryValue }),
      },
    ]),
  );
}

function increment(counts: Record<string, number>, key: string) {
  counts[key] = (counts[key] ?? 0) + 1;
}

/** Spaces sends so that no more than `rate` messages go out per second, in batches of at most `rate`. */
function pacer(rate: number | undefined, now: () => number, sleep: (ms: number) => Promise<void>) {
  const started = now();
  let sent = 0;
  return {
    batch: rate === undefined ? BATCH : Math.max(1, Math.min(BATCH, Math.floor(rate))),
    async wait(count: number) {
      if (rate !== undefined) {
        const due = started + (sent / rate) * 1000;
        const waitMs = due - now();
        if (waitMs > 0) await sleep(waitMs);
      }
      sent += count;
    },
  };
}
