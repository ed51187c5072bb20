import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy, { type MiddlewareObj } from '@middy/core';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { processBatch, type RecordInvocation } from './batch.ts';
import type { StageRuntime } from './stage-runtime.ts';
import type { Telemetry } from './telemetry.ts';

/** Middy time to spare: the abort signal given to every outbound call fires this long before the timeout. */
const TIMEOUT_EARLY_MS = 500;

/**
 * A stage's Lambda handler: instrumentation only (logger context, trace, metrics flushed once per invocation)
 * around the batch of records; the stage's work is `work`.
 * @example export const createHandler = (runtime: StageRuntime) => createStageHandler(runtime, extractRecord);
 */
export function createStageHandler(
  runtime: StageRuntime,
  work: (runtime: StageRuntime, record: SQSRecord, invocation: RecordInvocation) => Promise<void>,
) {
  const handler = middy<SQSEvent, SQSBatchResponse>({ timeoutEarlyInMillis: TIMEOUT_EARLY_MS })
    .use(injectLambdaContext(runtime.logger, { resetKeys: true }))
    .use(flushMetrics(runtime.telemetry));
  if (runtime.telemetry.tracer) handler.use(captureLambdaHandler(runtime.telemetry.tracer, { captureResponse: false }));
  return handler.handler((event, context, { signal }) =>
    processBatch(event, context, signal, runtime.now, (record, invocation) => work(runtime, record, invocation)),
  );
}

/** Writes the invocation's buffered metrics when it ends, whether it succeeded or not. */
function flushMetrics(telemetry: Telemetry): MiddlewareObj<SQSEvent, SQSBatchResponse> {
  const flush = async () => {
    telemetry.flush();
  };
  return { after: flush, onError: flush };
}
