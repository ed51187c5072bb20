import type { Logger } from '@aws-lambda-powertools/logger';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { CallEntry } from '#shared/call-ledger.ts';
import { LlmCallError, RateLimitedError } from '#shared/errors.ts';
import { ItemSession } from '#shared/item-claim.ts';
import { runLlmStep } from '#shared/llm-step.ts';
import { extractMessages } from '#shared/prompts.ts';
import type { RuntimeConfig } from '#shared/runtime-config.ts';
import { knowledgeSchema, OUTPUT_FORMATS } from '#shared/schemas.ts';
import { runtimeFromEnvironment, type StageRuntime } from '#shared/stage-runtime.ts';
import type { ManualClock } from '#sim/server.ts';
import { sample } from '../sim/calls.ts';
import type { StateTable } from './state-table.ts';

/**
 * Extract-stage instances on one state table calling a provider as fast as their limiter lets them, on a manual
 * clock: how the limiter is tested against providers that count and advertise their limits in different ways.
 */

const SECOND = 1000;

/** One function instance calling the model, on an item of its own. */
export interface LimiterWorker {
  runtime: StageRuntime;
  session: ItemSession;
  calls: CallEntry[];
  readyAt: number;
  steps: number;
}

/** What the provider saw in a stretch of the run. */
export interface Tally {
  answered: number;
  throttled: number;
}

/**
 * A stage instance as the function builds it, with `config`, on `itemId` (created in EXTRACTING).
 * @example const worker = await limiterWorker({ table, sqs, logger, clock }, config, 'limits-a');
 */
export async function limiterWorker(
  parts: { table: StateTable; sqs: SQSClient; logger: Logger; clock: ManualClock },
  config: RuntimeConfig,
  itemId: string,
): Promise<LimiterWorker> {
  const { table, sqs, logger, clock } = parts;
  const runtime = runtimeFromEnvironment(
    {
      STATE_TABLE_NAME: table.tableName,
      MEMORY_TABLE_NAME: 'unused',
      QUEUE_URL: 'unused',
      NEXT_QUEUE_URL: 'unused',
      DLQ_URL: 'unused',
      LLM_API_KEY_SECRET_ARN: 'unused',
      SLUICE_RUNTIME_CONFIG: JSON.stringify(config),
    },
    { dynamo: table.dynamo, sqs, apiKey: async () => 'test', logger, now: clock.now, emf: () => undefined },
  );
  const item = await runtime.items.create(itemId, { state: 'EXTRACTING', input: sample(0) });
  if (item === undefined) throw new Error(`item ${itemId} exists already`);
  return { runtime, session: new ItemSession(runtime.items, item, true), calls: [], readyAt: clock.now(), steps: 0 };
}

/**
 * Runs the instances until `until` on the clock: each makes its next LLM step as soon as it may, waits as long
 * as its limiter says, and tries again at once after a 429 (whose hold the limiter enforces).
 */
export async function runLimiterWorkers(
  workers: readonly LimiterWorker[],
  clock: ManualClock,
  until: number,
): Promise<Tally> {
  const tally: Tally = { answered: 0, throttled: 0 };
  for (;;) {
    const worker = workers.reduce((soonest, next) => (next.readyAt < soonest.readyAt ? next : soonest));
    if (worker.readyAt >= until) return tally;
    clock.advance(worker.readyAt - clock.now());
    try {
      await runLlmStep(
        worker.runtime,
        worker.session,
        worker.calls,
        0,
        { remainingMs: () => 60 * SECOND },
        {
          stage: 'extract',
          step: 'knowledge',
          name: `knowledge.${worker.steps}`,
          messages: extractMessages({ item: sample(worker.steps) }),
          format: { name: OUTPUT_FORMATS.knowledge, schema: knowledgeSchema },
        },
      );
      tally.answered += 1;
      worker.steps += 1;
    } catch (error) {
      if (error instanceof LlmCallError && error.status === 429) {
        tally.throttled += 1;
        worker.readyAt = clock.now() + 1;
      } else if (error instanceof RateLimitedError) {
        worker.readyAt = clock.now() + (error.retryAfterMs ?? SECOND);
      } else {
        throw error;
      }
    }
  }
}
