import type { SQSRecord } from 'aws-lambda';
import type { RecordInvocation } from '#shared/batch.ts';
import { type CallEntry, sumUsage } from '#shared/call-ledger.ts';
import { describeError, failureLogFields, InvalidItemError } from '#shared/errors.ts';
import { ItemSession } from '#shared/item-claim.ts';
import { runLlmStep } from '#shared/llm-step.ts';
import { extractMessages } from '#shared/prompts.ts';
import { type IntakeItem, intakeItemSchema, knowledgeSchema, OUTPUT_FORMATS } from '#shared/schemas.ts';
import { deadLetterIdOf } from '#shared/stage-queues.ts';
import { claimForRecord, deadLetter, runStageRecord } from '#shared/stage-record.ts';
import type { StageRuntime } from '#shared/stage-runtime.ts';
import { formatIssues } from '#shared/validation.ts';

/**
 * The extract stage ("left brain"): a raw intake item becomes structured knowledge, checkpointed on the item,
 * and the item moves on to the draft queue. Bad input is dead-lettered before anything is paid.
 */

const ID_LIKE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

type Parsed = { ok: true; item: IntakeItem } | { ok: false; itemId: string; error: InvalidItemError };

/** Validates an intake message body; an invalid one still gets an id so its dead letter can be found. */
export function parseIntakeMessage(body: string, messageId: string): Parsed {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (error) {
    return {
      ok: false,
      itemId: `message-${messageId}`,
      error: new InvalidItemError('body is not JSON', { cause: error }),
    };
  }
  const result = intakeItemSchema.safeParse(raw);
  if (result.success) return { ok: true, item: result.data };
  const claimedId = (raw as { id?: unknown } | null)?.id;
  const itemId = typeof claimedId === 'string' && ID_LIKE.test(claimedId) ? claimedId : `message-${messageId}`;
  return { ok: false, itemId, error: new InvalidItemError(`invalid item: ${formatIssues(result.error)}`) };
}

/** @example await extractRecord(runtime, record, invocation) */
export async function extractRecord(runtime: StageRuntime, record: SQSRecord, invocation: RecordInvocation) {
  const parsed = parseIntakeMessage(record.body, record.messageId);
  if (!parsed.ok) {
    // A redriven dead letter names its item: a body with no usable id is not a new item under its new message id.
    const redriven = deadLetterIdOf(record) === undefined ? undefined : record.messageAttributes.itemId?.stringValue;
    await rejectInvalid(runtime, record, redriven ?? parsed.itemId, parsed.error);
    return;
  }
  const itemId = parsed.item.id;
  // The item's calls, read once per invocation: after a wait here the work runs again with them, kept current by
  // runLlmStep, instead of reading the ledger again.
  let calls: CallEntry[] | undefined;
  const { stage, states } = runtime.config;
  await runStageRecord(runtime, stage, record, invocation, {
    itemId,
    claim: async () => {
      const claim = await claimForRecord(runtime, record, invocation, itemId, { input: parsed.item });
      if (claim.outcome === 'claimed' && claim.session.created) runtime.telemetry.count('ItemsReceived');
      return claim;
    },
    done: async ({ item }) => {
      // A duplicate or late delivery. If the item stopped right after its checkpoint, hand it on (again):
      // the draft stage treats a second message for the same item as a no-op.
      if (item.state === states.done) await runtime.queues.sendNext({ itemId });
      runtime.logger.info('duplicate delivery of an extracted item', { itemId, state: item.state });
    },
    work: async (session) => {
      const input = session.item.input ?? parsed.item;
      // A new item has paid for nothing yet.
      calls ??= session.created ? [] : await runtime.ledger.list(itemId, stage);
      const { value: knowledge } = await runLlmStep(runtime, session, calls, 0, invocation, {
        stage,
        step: 'knowledge',
        name: 'knowledge',
        messages: extractMessages({ item: input }),
        format: { name: OUTPUT_FORMATS.knowledge, schema: knowledgeSchema },
      });
      await session.update({
        state: states.done,
        set: { knowledge, usage: { ...session.item.usage, [stage]: sumUsage(calls) } },
        remove: ['leaseOwner', 'leaseUntil', 'pendingCall', 'deferredSince'],
      });
      runtime.telemetry.count('ItemsExtracted');
      runtime.faults?.crashPoint('after-checkpoint', itemId);
      await runtime.queues.sendNext({ itemId });
      runtime.faults?.crashPoint('after-send', itemId);
    },
  });
}

/**
 * An invalid item is recorded as DEAD_LETTER straight away (RECEIVED → DEAD_LETTER) with the reason, and its
 * message goes to the intake DLQ. No LLM call, no retry. Its redrive fails validation again and is dead-lettered
 * again (under a new dead-letter id); a duplicate of its message changes nothing.
 */
async function rejectInvalid(runtime: StageRuntime, record: SQSRecord, itemId: string, error: InvalidItemError) {
  const { errorClass, message } = describeError(error);
  const failure = {
    errorClass,
    message,
    stage: runtime.config.stage,
    attempts: 1,
    at: new Date(runtime.now()).toISOString(),
    kind: error.kind,
  };
  const rawInput = record.body.slice(0, 10_000);
  const created = await runtime.items.create(itemId, { state: runtime.config.states.ready, rawInput });
  if (created !== undefined) runtime.telemetry.count('ItemsReceived');
  if (created === undefined) {
    const existing = await runtime.items.get(itemId);
    if (existing?.state === 'DISCARDED') {
      // DISCARDED is final: a late or duplicate copy of its message is acknowledged, and no new dead letter is sent.
      runtime.telemetry.count('StaleDeliveries');
      runtime.logger.info('delivery for a discarded item: acknowledged, item left as it is', { itemId });
      return;
    }
    const invalidItem = existing !== undefined && existing.input === undefined;
    if (invalidItem && (existing.state === 'RECEIVED' || existing.deadLettering !== undefined)) {
      // Our own record from a delivery that crashed before dead-lettering it: finish the job.
      await deadLetter(runtime, new ItemSession(runtime.items, existing, false), record.body, failure);
      return;
    }
    if (invalidItem && existing.state === 'DEAD_LETTER' && existing.rawInput === rawInput) {
      const current = existing.deadLetter?.deadLetterId;
      if (current === undefined || current === deadLetterIdOf(record)) {
        // Its redrive: the same bad body fails again, and is dead-lettered again.
        await deadLetter(runtime, new ItemSession(runtime.items, existing, false), record.body, failure);
        return;
      }
      runtime.telemetry.count('StaleDeliveries');
      runtime.logger.info('stale delivery for a dead-lettered item: acknowledged, item left as it is', {
        itemId,
        deadLetterStage: existing.deadLetter?.stage,
        deadLetterId: current,
        carriedDeadLetterId: deadLetterIdOf(record),
      });
      return;
    }
    // The id belongs to an item we already have: keep that item as it is, but the bad message still goes to the DLQ.
    runtime.logger.warn('invalid message reuses an existing item id', { itemId, ...failureLogFields(failure) });
    await runtime.queues.sendDeadLetter(record.body, itemId, failure);
    return;
  }
  await deadLetter(runtime, new ItemSession(runtime.items, created, true), record.body, failure);
}
