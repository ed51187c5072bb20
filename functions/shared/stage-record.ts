import { randomUUID } from 'node:crypto';
import type { SQSRecord } from 'aws-lambda';
import type { RecordInvocation } from './batch.ts';
import {
  DeadlineError,
  DeferralLimitError,
  describeError,
  failureKindOf,
  failureLogFields,
  InjectedCrash,
  type SluiceError,
  StateConflictError,
} from './errors.ts';
import { type Claim, type ClaimRequest, claimItem, type ItemSession } from './item-claim.ts';
import type { DeadLetterRecord, ErrorRecord, ItemChange } from './item-store.ts';
import { CHECKPOINT_MARGIN_MS, MIN_CALL_MS } from './llm-step.ts';
import { decide } from './retry-policy.ts';
import type { Stage } from './runtime-config.ts';
import { deadLetterIdOf } from './stage-queues.ts';
import type { StageRuntime } from './stage-runtime.ts';

/**
 * Runs one record of a stage: claim the item, do the stage's (replayable) work, and on failure apply the one
 * retry policy — wait here and replay, hand the message back to come again later, or dead-letter. Waiting for a
 * rate limit, a breaker, the budget or another invocation's lease never counts as a failed attempt; a real
 * failure is counted in the state table, never read from SQS's receive count.
 *
 * `item.attempts[stage]` counts the real failures of the step now under way: {@link renewFailureBudget} starts it
 * afresh when a step is answered and the stage moves on to the next.
 *
 * Messages handed back are sent again with a delay and the received one is acknowledged, so SQS's receive
 * count (and its redrive to the DLQ) only moves on crashes.
 */
export async function runStageRecord(
  runtime: StageRuntime,
  stage: Stage,
  record: SQSRecord,
  invocation: RecordInvocation,
  steps: {
    itemId: string;
    claim: () => Promise<Claim>;
    /** A duplicate of finished work: anything to redo so the item is not stranded (e.g. hand it on again). */
    done?: (claim: Extract<Claim, { outcome: 'done' }>) => Promise<void>;
    /**
     * The stage's work. After a wait here it runs again on the same session: what it read in this invocation (the
     * ledger, the memory lookup) it should keep, not read again.
     */
    work: (session: ItemSession) => Promise<void>;
    /**
     * What the work found that a later delivery should not pay for again (e.g. the memory lookup's answer), written
     * with the item write a hand-back makes anyway: no request more.
     */
    checkpoint?: () => ItemChange['set'] | undefined;
  },
): Promise<void> {
  const { logger, telemetry } = runtime;
  logger.appendKeys({ itemId: steps.itemId, messageId: record.messageId });
  if (invocation.remainingMs() < CHECKPOINT_MARGIN_MS + MIN_CALL_MS) {
    await deliverLater(runtime, record, 0, 'no time left in the invocation');
    return;
  }
  let claim: Claim;
  try {
    claim = await steps.claim();
  } catch (error) {
    const kind = (error as SluiceError).kind;
    if (kind !== 'deferred') throw error;
    // Another invocation holds the item, or its record is not ready: try again once that can have changed.
    const delayMs = (error as SluiceError).retryAfterMs ?? 1000;
    await deliverLater(runtime, record, delayMs, describeError(error).message);
    return;
  }
  if (claim.outcome === 'stale') {
    // DEAD_LETTER is final except through a redrive: acknowledge, change nothing (its dead letter is in the DLQ).
    telemetry.count('StaleDeliveries');
    logger.info('stale delivery for a dead-lettered item: acknowledged, item left as it is', {
      itemId: claim.item.itemId,
      deadLetterStage: claim.item.deadLetter?.stage,
      deadLetterId: claim.item.deadLetter?.deadLetterId,
      carriedDeadLetterId: deadLetterIdOf(record),
    });
    return;
  }
  if (claim.outcome === 'done') {
    await steps.done?.(claim);
    return;
  }
  const session = claim.session;
  runtime.faults?.crashPoint('after-claim', session.item.itemId);
  if (session.item.deadLettering !== undefined) {
    // A crash came after this item's dead letter was decided (and maybe sent): finish the job, do no more work.
    await deadLetter(runtime, session, record.body, session.item.deadLettering);
    return;
  }
  for (;;) {
    try {
      await steps.work(session);
      return;
    } catch (error) {
      if (error instanceof InjectedCrash) throw error;
      if (error instanceof StateConflictError) {
        // Another invocation took the item over (our lease lapsed): it finishes the work; this copy comes back
        // later in case it does not.
        await deliverLater(runtime, record, LEASE_CONFLICT_RETRY_MS, describeError(error).message);
        return;
      }
      const waitable = Math.max(0, invocation.remainingMs() - CHECKPOINT_MARGIN_MS - MIN_CALL_MS);
      const attemptsSoFar = session.item.attempts[stage] ?? 0;
      const decision = decide(error, attemptsSoFar, waitable, retrySettings(runtime), Math.random);
      const failure = failureRecord(runtime, stage, error, attemptsSoFar + 1);
      if (decision.action === 'dead-letter') {
        await deadLetter(runtime, session, record.body, failure);
        return;
      }
      if (decision.countsAttempt) {
        telemetry.count('Retries');
        logger.warn('attempt failed', {
          itemId: session.item.itemId,
          ...failureLogFields(failure),
          retryInMs: decision.delayMs,
        });
      } else {
        logger.info('waiting', { itemId: session.item.itemId, reason: failure.message, waitMs: decision.delayMs });
      }
      if (decision.action === 'wait-here') {
        if (decision.countsAttempt) await recordAttempt(session, stage, failure, { keepLease: true });
        await sleep(decision.delayMs, invocation.signal);
        continue;
      }
      if (!decision.countsAttempt && error instanceof DeadlineError === false) {
        const since = session.item.deferredSince ?? runtime.now();
        if (runtime.now() - since > runtime.config.retry.maxDeferralMs) {
          const limit = new DeferralLimitError(
            `waited ${Math.round((runtime.now() - since) / 1000)} s, more than the ${runtime.config.retry.maxDeferralMs / 1000} s allowed: ${failure.message}`,
          );
          await deadLetter(runtime, session, record.body, failureRecord(runtime, stage, limit, attemptsSoFar));
          return;
        }
        await session.update({
          set: { ...steps.checkpoint?.(), deferredSince: since, deferrals: (session.item.deferrals ?? 0) + 1 },
          remove: ['leaseOwner', 'leaseUntil'],
        });
      } else if (decision.countsAttempt) {
        await recordAttempt(session, stage, failure, { keepLease: false, checkpoint: steps.checkpoint?.() });
      } else {
        await session.update({ set: steps.checkpoint?.(), remove: ['leaseOwner', 'leaseUntil'] });
      }
      await deliverLater(runtime, record, decision.delayMs, failure.message);
      return;
    }
  }
}

/**
 * A step of the stage was answered and the stage goes on to another step (the draft stage's draft, review and
 * redraft): the failures counted so far belonged to the answered step, so the next step starts with the whole
 * failure budget. A budget is for one piece of work failing again and again; without this, two short bursts of
 * 5xx met by two different steps of one item would dead-letter it.
 *
 * Only a step answered now (`paid`) renews the budget: a step reused from the ledger on a later delivery says
 * nothing new, and renewing on it would let a step that keeps failing retry forever. A crash before this write
 * leaves the earlier failures counted, which can only dead-letter sooner.
 * @example const { value, paid } = await runLlmStep(...); if (paid) await renewFailureBudget(session, 'draft');
 */
/**
 * Claims the record's item for the runtime's stage: its states, this invocation's lease, and the dead-letter id
 * the message carries (a redriven dead letter). `extra` adds what only some stages pass (the intake item, a
 * re-enrichment).
 * @example await claimForRecord(runtime, record, invocation, 'sample-001')
 */
export function claimForRecord(
  runtime: StageRuntime,
  record: SQSRecord,
  invocation: RecordInvocation,
  itemId: string,
  extra: Pick<ClaimRequest, 'input' | 'reenrich'> = {},
): Promise<Claim> {
  const { stage, states } = runtime.config;
  return claimItem(runtime.items, {
    itemId,
    stage,
    states,
    owner: invocation.owner,
    leaseUntil: invocation.leaseUntil,
    now: runtime.now(),
    deadLetterId: deadLetterIdOf(record),
    ...extra,
  });
}

export async function renewFailureBudget(session: ItemSession, stage: Stage): Promise<void> {
  if ((session.item.attempts[stage] ?? 0) === 0) return;
  await session.update({ set: { attempts: { ...session.item.attempts, [stage]: 0 } } });
}

/** When a copy whose item was taken over comes back, in case the new holder does not finish. */
const LEASE_CONFLICT_RETRY_MS = 30_000;

/** How long a message can be delayed by SQS in one go; longer waits are a chain of such delays. */
const MAX_SQS_DELAY_S = 900;

async function deliverLater(runtime: StageRuntime, record: SQSRecord, delayMs: number, reason: string) {
  const delaySeconds = Math.min(MAX_SQS_DELAY_S, Math.ceil(delayMs / 1000));
  await runtime.queues.requeue(record.body, delaySeconds, deadLetterIdOf(record));
  runtime.telemetry.count('Deferrals');
  runtime.logger.debug('message handed back', { messageId: record.messageId, delaySeconds, reason });
}

async function recordAttempt(
  session: ItemSession,
  stage: Stage,
  failure: ErrorRecord,
  options: { keepLease: boolean; checkpoint?: ItemChange['set'] | undefined },
) {
  await session.update({
    set: {
      ...options.checkpoint,
      attempts: { ...session.item.attempts, [stage]: failure.attempts },
      lastError: failure,
    },
    remove: options.keepLease ? [] : ['leaseOwner', 'leaseUntil'],
  });
}

function failureRecord(runtime: StageRuntime, stage: Stage, error: unknown, attempts: number): ErrorRecord {
  const { errorClass, message } = describeError(error);
  return {
    errorClass,
    message,
    stage,
    attempts,
    at: new Date(runtime.now()).toISOString(),
    kind: failureKindOf(error),
  };
}

function retrySettings(runtime: StageRuntime) {
  return { maxAttempts: runtime.config.maxAttempts, ...runtime.config.retry };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new DeadlineError('the invocation is ending'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new DeadlineError('the invocation is ending'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Records the decision on the item (with a new dead-letter id), puts the item's message in the stage's DLQ with
 * the error and that id as attributes, then marks the item DEAD_LETTER. The DLQ send comes before the state: if the
 * state write then fails, the message is redelivered and the recorded decision is carried out again, so an item is
 * never DEAD_LETTER without its message in a DLQ, and never worked again after its dead letter was decided.
 *
 * A crash between the send and the state write (kill -9) leaves a copy in the DLQ that the redelivery sends again:
 * SQS standard queues cannot refuse the second copy, so both carry the one id recorded with the decision, and a
 * redrive of either resumes the item while the other, finding that id consumed, is a stale duplicate.
 */
export async function deadLetter(runtime: StageRuntime, session: ItemSession, body: string, failure: ErrorRecord) {
  // Decided first, so a crash before the state write finishes the dead letter instead of working the item again
  // (and paying again for a request the provider refused). A decision recorded without an id (before dead letters
  // carried one) gets one now, before anything is sent.
  const pending = session.item.deadLettering;
  const decided: DeadLetterRecord =
    pending?.deadLetterId !== undefined ? pending : { ...(pending ?? failure), deadLetterId: randomUUID() };
  if (decided !== pending) await session.update({ set: { deadLettering: decided } });
  const item = session.item;
  const { deadLetterId: _id, ...error } = decided;
  runtime.logger.error('item dead-lettered', { itemId: item.itemId, ...failureLogFields(decided) });
  await runtime.queues.sendDeadLetter(body, item.itemId, decided);
  runtime.faults?.crashPoint('after-dead-letter-send', item.itemId);
  await session.update({
    state: 'DEAD_LETTER',
    set: { attempts: { ...item.attempts, [decided.stage]: decided.attempts }, lastError: error, deadLetter: decided },
    remove: ['leaseOwner', 'leaseUntil', 'pendingCall', 'deferredSince', 'deadLettering'],
  });
  runtime.telemetry.count('ItemsDeadLettered');
}
