import { Logger } from '@aws-lambda-powertools/logger';
import { SQSClient } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { CallEntry } from '#shared/call-ledger.ts';
import { LlmCallError, RateLimitedError } from '#shared/errors.ts';
import { ItemSession } from '#shared/item-claim.ts';
import { runLlmStep } from '#shared/llm-step.ts';
import { extractMessages } from '#shared/prompts.ts';
import type { RuntimeConfig } from '#shared/runtime-config.ts';
import { knowledgeSchema, OUTPUT_FORMATS } from '#shared/schemas.ts';
import { runtimeFromEnvironment, type StageRuntime } from '#shared/stage-runtime.ts';
import { type LlmSimulator, type ManualClock, manualClock, startLlmSimulator } from '#sim/server.ts';
import { sample } from '../sim/calls.ts';
import { type StateTable, startStateTable } from '../support/state-table.ts';

const MODEL = 'gpt-4o-mini';
const SECOND = 1000;
const START = Date.parse('2026-11-03T09:00:00Z');

/** The extract stage's settings, paced for the provider's advertised 120 requests per minute. */
const config = (baseUrl: string): RuntimeConfig => ({
  stage: 'extract',
  model: MODEL,
  maxOutputTokens: 800,
  maxRevisions: 0,
  llm: { baseUrl, timeoutMs: 10_000 },
  prices: { [MODEL]: { inputPerMillionUsd: 0.15, outputPerMillionUsd: 0.6 } },
  itemTokenBudget: 10_000_000,
  dailyBudgetUsd: 1000,
  maxAttempts: 5,
  memory: { lookupTimeoutMs: 500, maxRelated: 3 },
  limits: { [MODEL]: { rpm: 120, tpm: 1_000_000 } },
  retry: { baseDelayMs: 100, maxDelayMs: 1000, maxInProcessWaitMs: 0, maxDeferralMs: 3_600_000 },
  breaker: { failureThreshold: 5, windowMs: 60_000, minCalls: 20, failureRate: 0.5, cooldownMs: 10_000 },
});

/** One function instance calling the model as fast as its limiter lets it, on an item of its own. */
interface Worker {
  runtime: StageRuntime;
  session: ItemSession;
  calls: CallEntry[];
  readyAt: number;
  steps: number;
}

/** What the provider saw in a stretch of the run. */
interface Tally {
  answered: number;
  throttled: number;
}

describe('Integration: the rate limiter follows the limits the provider advertises', () => {
  let table: StateTable;
  let sim: LlmSimulator;
  let clock: ManualClock;
  let sqs: SQSClient;
  const logger = new Logger({ serviceName: 'sluice-test', logLevel: 'SILENT' });

  beforeAll(async () => {
    table = await startStateTable();
    clock = manualClock(START);
    sim = await startLlmSimulator({ clock, faults: { limits: { perModel: { [MODEL]: { rpm: 120 } } } } });
    sqs = new SQSClient({ region: 'us-east-1' });
  });

  afterAll(async () => {
    sqs?.destroy();
    await sim?.stop();
    await table?.stop();
  });

  /** A stage instance as the function builds it, on the shared table and the simulator, on the test's clock. */
  async function instance(name: string): Promise<Worker> {
    const runtime = runtimeFromEnvironment(
      {
        STATE_TABLE_NAME: table.tableName,
        MEMORY_TABLE_NAME: 'unused',
        QUEUE_URL: 'unused',
        NEXT_QUEUE_URL: 'unused',
        DLQ_URL: 'unused',
        LLM_API_KEY_SECRET_ARN: 'unused',
        SLUICE_RUNTIME_CONFIG: JSON.stringify(config(sim.url)),
      },
      { dynamo: table.dynamo, sqs, apiKey: async () => 'test', logger, now: clock.now, emf: () => undefined },
    );
    const item = await runtime.items.create(`limits-${name}`, { state: 'EXTRACTING', input: sample(0) });
    if (item === undefined) throw new Error(`item limits-${name} exists already`);
    return { runtime, session: new ItemSession(runtime.items, item, true), calls: [], readyAt: clock.now(), steps: 0 };
  }

  /**
   * Runs the instances until `until` on the simulated clock: each makes its next LLM step as soon as it may,
   * waits as long as the limiter tells it, and tries again at once after a 429 (whose hold the limiter enforces).
   */
  async function run(workers: readonly Worker[], until: number): Promise<Tally> {
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

  it('keeps 429s to at most 1% of the calls after the provider halves its limit mid-run', async () => {
    // Prepare: two instances of the stage call at the provider's 120 per minute for half a minute, so the
    // provider's window holds as many calls as its halved limit will allow
    const warn = vi.spyOn(logger, 'warn');
    const workers = [await instance('a'), await instance('b')];
    const before = await run(workers, START + 30 * SECOND);

    // Act: the provider halves its limit without notice; the run goes on for two and a half minutes
    sim.configure({ limits: { perModel: { [MODEL]: { rpm: 60 } } } });
    const after = await run(workers, START + 180 * SECOND);

    // Assess
    const calls = after.answered + after.throttled;
    expect(before.throttled).toBe(0);
    expect(before.answered).toBeGreaterThanOrEqual(55);
    expect(after.throttled).toBeLessThanOrEqual(0.01 * calls);
    // Only the call that revealed the lower limit: without following it, a 429 comes back every minute
    expect(after.throttled).toBe(1);
    // Not by calling less than it may: the first 429 holds calls back for half a minute (until the provider's
    // window has room again), then about 58 a minute for two minutes
    expect(after.answered).toBeGreaterThanOrEqual(105);
    const { Item } = await table.dynamo.send(
      new GetCommand({ TableName: table.tableName, Key: { pk: `LIMIT#${MODEL}`, sk: 'LIMIT' }, ConsistentRead: true }),
    );
    expect(Item).toMatchObject({ advertisedRpm: 60, throttled: after.throttled });
    expect(warn).toHaveBeenCalledWith(
      expect.stringContaining('lowered its rate limits'),
      expect.objectContaining({
        model: MODEL,
        from: expect.objectContaining({ rpm: 120 }),
        to: expect.objectContaining({ rpm: 60 }),
      }),
    );
  });
});
