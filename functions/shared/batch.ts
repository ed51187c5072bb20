import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { DeadlineError } from './errors.ts';
import { CHECKPOINT_MARGIN_MS, type Invocation, MIN_CALL_MS } from './llm-step.ts';

/** What a stage does with one record; throwing hands the record back to the queue. */
export type RecordWork = (record: SQSRecord, work: RecordInvocation) => Promise<void>;

export interface RecordInvocation extends Invocation {
  /** Lease owner for this record in this invocation. */
  owner: string;
  /** When the lease on the item should lapse if this invocation dies: just after the function's own deadline. */
  leaseUntil: number;
}

/** Leases outlive the invocation's deadline by this much, so a slow final write is not mistaken for a crash. */
const LEASE_GRACE_MS = 5000;

/**
 * Runs a batch one record at a time (concurrent LLM calls stay bounded by the function's concurrency, which is
 * the semaphore) and reports partial failures. A record that would start with too little time left is handed
 * back untouched instead of being started and cut off.
 * @example
 * return processBatch(event, context, signal, now, extractRecord);
 */
export async function processBatch(
  event: SQSEvent,
  context: Context,
  signal: AbortSignal | undefined,
  now: () => number,
  work: RecordWork,
): Promise<SQSBatchResponse> {
  const processor = new BatchProcessor(EventType.SQS);
  return processPartialResponse(
    event,
    async (record: SQSRecord) => {
      const remaining = context.getRemainingTimeInMillis();
      if (remaining < CHECKPOINT_MARGIN_MS + MIN_CALL_MS) {
        throw new DeadlineError(`only ${remaining} ms left in the invocation: record handed back`);
      }
      await work(record, {
        owner: `${context.awsRequestId}#${record.messageId}`,
        leaseUntil: now() + remaining + LEASE_GRACE_MS,
        remainingMs: () => context.getRemainingTimeInMillis(),
        signal,
      });
    },
    processor,
    { context, processInParallel: false, throwOnFullBatchFailure: false },
  );
}
