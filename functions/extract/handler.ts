import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { processBatch } from '#shared/batch.ts';
import type { StageRuntime } from '#shared/stage-runtime.ts';
import { extractRecord } from './extract.ts';

/** The Lambda handler of the extract stage: instrumentation only; the work is in extract.ts. */
export function createHandler(runtime: StageRuntime) {
  return middy<SQSEvent, SQSBatchResponse>({ timeoutEarlyInMillis: 500 })
    .use(injectLambdaContext(runtime.logger, { resetKeys: true }))
    .handler((event, context, { signal }) =>
      processBatch(event, context, signal, runtime.now, (record, invocation) =>
        extractRecord(runtime, record, invocation),
      ),
    );
}
