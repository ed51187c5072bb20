import type { SQSRecord } from 'aws-lambda';
import { describeError, failureKindOf } from './errors.ts';
import type { ItemSession } from './item-claim.ts';
import type { ErrorRecord } from './item-store.ts';
import type { Stage } from './runtime-config.ts';
import type { StageRuntime } from './stage-runtime.ts';

/**
 * What happens to an item when its stage fails: the one policy both stages share.
 * - deferred (lease held elsewhere, no time left): the lease is let go and the message comes back later; no
 *   attempt is counted, because nothing failed;
 * - permanent: dead-lettered now;
 * - retryable: one real failed attempt is counted in the state table; when the failure budget is spent the
 *   handler dead-letters the item itself (rather than leaving it to SQS's receive count).
 * Returns normally when the message is done with (dead-lettered); throws to hand it back to the queue.
 */
export async function settleFailure(
  runtime: StageRuntime,
  stage: Stage,
  record: SQSRecord,
  session: ItemSession | undefined,
  error: unknown,
): Promise<void> {
  const kind = failureKindOf(error);
  const { errorClass, message } = describeError(error);
  if (session === undefined) {
    // Nothing was claimed (e.g. the state table did not answer): SQS brings the message back.
    runtime.logger.warn('record failed before its item was claimed', {
      messageId: record.messageId,
      errorClass,
      message,
    });
    throw error;
  }
  const item = session.item;
  if (kind === 'deferred') {
    runtime.logger.info('item deferred', { itemId: item.itemId, errorClass, message });
    await releaseLease(runtime, session);
    throw error;
  }
  const attempts = (item.attempts[stage] ?? 0) + 1;
  const failure: ErrorRecord = { errorClass, message, stage, attempts, at: new Date(runtime.now()).toISOString() };
  if (kind === 'permanent' || attempts >= runtime.config.maxAttempts) {
    await deadLetter(runtime, session, record.body, failure);
    return;
  }
  runtime.logger.warn('item attempt failed; it will be retried', { itemId: item.itemId, ...failure });
  await session.update({
    set: { attempts: { ...item.attempts, [stage]: attempts }, lastError: failure },
    remove: ['leaseOwner', 'leaseUntil'],
  });
  throw error;
}

/**
 * Puts the item's message in the stage's DLQ with the error as attributes, then marks the item DEAD_LETTER.
 * The DLQ send comes first: if the state write then fails, the message is redelivered and the item, having
 * spent its failure budget, is dead-lettered again, so it is never DEAD_LETTER without its message in a DLQ.
 */
export async function deadLetter(
  runtime: StageRuntime,
  session: ItemSession,
  body: string,
  failure: ErrorRecord,
): Promise<void> {
  const item = session.item;
  runtime.logger.error('item dead-lettered', { itemId: item.itemId, ...failure });
  await runtime.queues.sendDeadLetter(body, item.itemId, failure);
  await session.update({
    state: 'DEAD_LETTER',
    set: { attempts: { ...item.attempts, [failure.stage]: failure.attempts }, lastError: failure, deadLetter: failure },
    remove: ['leaseOwner', 'leaseUntil'],
  });
}

async function releaseLease(runtime: StageRuntime, session: ItemSession): Promise<void> {
  try {
    await session.update({ remove: ['leaseOwner', 'leaseUntil'] });
  } catch (error) {
    // The lease expires by itself; failing to let it go early only delays the next delivery.
    runtime.logger.debug('lease not released', { itemId: session.item.itemId, ...describeError(error) });
  }
}
