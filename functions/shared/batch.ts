import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { InjectedCrash } from './errors.ts';
import type { Invocation } from './llm-step.ts';

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
 * the semaphore) and reports partial failures. A crash (only ever injected by chaos runs) ends the whole
 * invocation with an error, as a real crash would: no record of the batch is acknowledged.
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
  let crash: InjectedCrash | undefined;
  const response = await processPartialResponse(
    event,
    async (record: SQSRecord) => {
      if (crash) throw crash;
      try {
        await work(record, {
          owner: `${context.awsRequestId}#${record.messageId}`,
          leaseUntil: now() + context.getRemainingTimeInMillis() + LEASE_GRACE_MS,
          remainingMs: () => context.getRemainingTimeInMillis(),
          signal,
        });
      } catch (error) {
        if (error instanceof InjectedCrash) crash = error;
        throw error;
      }
    },
    processor,
    { context, processInParallel: false, throwOnFullBatchFailure: false },
  );
  if (crash) throw crash;
  return response;
}
