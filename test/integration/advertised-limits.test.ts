import { Logger } from '@aws-lambda-powertools/logger';
import { SQSClient } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PIPELINE } from '#functions/pipeline.ts';
import { stageStatesOf } from '#shared/pipeline.ts';
import type { RuntimeConfig } from '#shared/runtime-config.ts';
import { type LlmSimulator, type ManualClock, manualClock, startLlmSimulator } from '#sim/server.ts';
import { type LimiterWorker, limiterWorker, runLimiterWorkers } from '../support/limiter-workers.ts';
import { type StateTable, startStateTable } from '../support/state-table.ts';

const MODEL = 'gpt-4o-mini';
const SECOND = 1000;
const START = Date.parse('2026-11-03T09:00:00Z');

/** The extract stage's settings, paced for the provider's advertised 120 requests per minute. */
const config = (baseUrl: string): RuntimeConfig => ({
  stage: 'extract',
  states: stageStatesOf(PIPELINE, 'extract'),
  model: MODEL,
  maxOutputTokens: 800,
  steps: {},
  maxRevisions: 0,
  llm: { baseUrl, timeoutMs: 10_000, learnMaxTokens: false },
  prices: { [MODEL]: { inputPerMillionUsd: 0.15, outputPerMillionUsd: 0.6 } },
  itemTokenBudget: 10_000_000,
  dailyBudgetUsd: 1000,
  retentionSeconds: 90 * 86_400,
  maxAttempts: 5,
  memory: { lookupTimeoutMs: 500, maxRelated: 3 },
  limits: { [MODEL]: { rpm: 120, tpm: 1_000_000 } },
  retry: { baseDelayMs: 100, maxDelayMs: 1000, maxInProcessWaitMs: 0, maxDeferralMs: 3_600_000 },
  breaker: { failureThreshold: 5, windowMs: 60_000, minCalls: 20, failureRate: 0.5, cooldownMs: 10_000 },
});

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
  const instance = (name: string) => limiterWorker({ table, sqs, logger, clock }, config(sim.url), `limits-${name}`);
  const run = (workers: readonly LimiterWorker[], until: number) => runLimiterWorkers(workers, clock, until);

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
