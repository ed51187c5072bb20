import { Logger } from '@aws-lambda-powertools/logger';
import { SQSClient } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PIPELINE } from '#functions/pipeline.ts';
import { stageStatesOf } from '#shared/pipeline.ts';
import type { RuntimeConfig } from '#shared/runtime-config.ts';
import {
  type LlmSimulator,
  type ManualClock,
  manualClock,
  type SimulatorFaults,
  startLlmSimulator,
} from '#sim/server.ts';
import { type LimiterWorker, limiterWorker, runLimiterWorkers } from '../support/limiter-workers.ts';
import { type StateTable, startStateTable } from '../support/state-table.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const START = Date.parse('2026-11-04T09:00:00Z');
const PRICE = { inputPerMillionUsd: 0.15, outputPerMillionUsd: 0.6 };

/**
 * The limiter against providers that count and advertise their limits in different ways, as their documentation
 * says: stage instances on one state table call the simulator as fast as their limiter lets them, on a manual
 * clock, for minutes of simulated time.
 */
describe('Integration: the rate limiter counts as the provider counts', () => {
  let table: StateTable;
  let sim: LlmSimulator | undefined;
  let clock: ManualClock;
  let sqs: SQSClient;
  const logger = new Logger({ serviceName: 'sluice-test', logLevel: 'SILENT' });
  let instances = 0;

  beforeAll(async () => {
    table = await startStateTable();
    sqs = new SQSClient({ region: 'us-east-1' });
  });

  afterEach(async () => {
    await sim?.stop();
    sim = undefined;
  });

  afterAll(async () => {
    sqs?.destroy();
    await table?.stop();
  });

  /** The provider, on a clock of its own that starts now. */
  async function provider(faults: SimulatorFaults, start = START): Promise<LlmSimulator> {
    clock = manualClock(start);
    sim = await startLlmSimulator({ clock, faults });
    return sim;
  }

  /** A stage instance calling `model` with `limits` configured, as the function builds it. */
  async function instance(
    running: LlmSimulator,
    model: string,
    limits: RuntimeConfig['limits'][string],
    learnMaxTokens = false,
  ) {
    const config: RuntimeConfig = {
      stage: 'extract',
      states: stageStatesOf(PIPELINE, 'extract'),
      model,
      maxOutputTokens: 2048,
      steps: {},
      maxRevisions: 0,
      llm: { baseUrl: running.url, timeoutMs: 10_000, learnMaxTokens },
      prices: { [model]: PRICE },
      itemTokenBudget: 10_000_000,
      dailyBudgetUsd: 1000,
      retentionSeconds: 90 * 86_400,
      maxAttempts: 5,
      memory: { lookupTimeoutMs: 500, maxRelated: 3 },
      limits: { [model]: limits },
      retry: { baseDelayMs: 100, maxDelayMs: 1000, maxInProcessWaitMs: 0, maxDeferralMs: 3_600_000 },
      breaker: { failureThreshold: 5, windowMs: 60_000, minCalls: 20, failureRate: 0.5, cooldownMs: 10_000 },
    };
    instances += 1;
    return limiterWorker({ table, sqs, logger, clock }, config, `counting-${instances}`);
  }

  const run = (workers: LimiterWorker[], until: number) => runLimiterWorkers(workers, clock, until);

  async function limitRecord(model: string) {
    const { Item } = await table.dynamo.send(
      new GetCommand({ TableName: table.tableName, Key: { pk: `LIMIT#${model}`, sk: 'LIMIT' }, ConsistentRead: true }),
    );
    return Item;
  }

  const TPM = 60_000;

  it('keeps 429s to at most 1 % under a TPM limit the provider counts at admission, and uses most of it', async () => {
    // Prepare: the provider charges prompt estimate + max_tokens when it admits a call (its default, as OpenAI
    // documents); sluice is configured to count the same way (its default)
    const model = 'gpt-4o-mini';
    const running = await provider({ limits: { perModel: { [model]: { tpm: TPM } } } });
    const workers = [
      await instance(running, model, { tpm: TPM }),
      await instance(running, model, { tpm: TPM }),
      await instance(running, model, { tpm: TPM }),
    ];

    // Act
    const tally = await run(workers, START + 4 * MINUTE);

    // Assess
    const calls = tally.answered + tally.throttled;
    expect(tally.throttled).toBeLessThanOrEqual(0.01 * calls);
    const busiest = running.stats().maxTpmInAnyWindowByModel[model] ?? 0;
    expect(busiest).toBeLessThanOrEqual(TPM);
    expect(busiest).toBeGreaterThan(0.8 * TPM);
  });

  it('asks for what the answers need rather than max_tokens, so the same admission-counted TPM answers more calls', async () => {
    // Prepare: a day of its own (the learned sizes are the day's), the same provider twice: first with max_tokens
    // fixed at the configured 2,048, then learned from the answers
    const model = 'gpt-4o-mini';
    const day = START + 10 * 24 * 60 * MINUTE;
    const limits = { perModel: { [model]: { tpm: TPM } } };
    const fixedProvider = await provider({ limits }, day);
    const fixed = [
      await instance(fixedProvider, model, { tpm: TPM }),
      await instance(fixedProvider, model, { tpm: TPM }),
    ];
    const fixedTally = await run(fixed, day + 4 * MINUTE);
    const fixedBusiest = fixedProvider.stats().maxTpmInAnyWindowByModel[model] ?? 0;
    await fixedProvider.stop();
    const learnedProvider = await provider({ limits }, day + 10 * MINUTE);
    const learned = [
      await instance(learnedProvider, model, { tpm: TPM }, true),
      await instance(learnedProvider, model, { tpm: TPM }, true),
    ];

    // Act
    const tally = await run(learned, day + 14 * MINUTE);

    // Assess: more calls answered in the same four minutes, still at most 1 % 429s and never over the limit as the
    // provider counts it, most of it used; and the calls asked for far less than the maximum
    const calls = tally.answered + tally.throttled;
    const busiest = learnedProvider.stats().maxTpmInAnyWindowByModel[model] ?? 0;
    expect(tally.answered).toBeGreaterThan(1.5 * fixedTally.answered);
    expect(tally.throttled).toBeLessThanOrEqual(0.01 * calls);
    expect(busiest).toBeLessThanOrEqual(TPM);
    expect(fixedBusiest).toBeLessThanOrEqual(TPM);
    expect(busiest).toBeGreaterThanOrEqual(0.95 * TPM);
    const asked = learned.flatMap((worker) => worker.calls).map((call) => call.maxTokens ?? 0);
    expect(Math.max(...asked.slice(-20))).toBeLessThan(2048 / 2);
  });

  it('is answered 429 again and again when it gives back tokens a provider that counts at admission keeps', async () => {
    // Prepare: the same provider, with sluice misconfigured to settle to the tokens used: this is what the
    // `tokenCounting` setting is for
    const model = 'gpt-4.1-nano';
    const running = await provider({ limits: { perModel: { [model]: { tpm: TPM } } } });
    const limits = { tpm: TPM, tokenCounting: 'usage' } as const;
    const workers = [
      await instance(running, model, limits),
      await instance(running, model, limits),
      await instance(running, model, limits),
    ];

    // Act
    const tally = await run(workers, START + 4 * MINUTE);

    // Assess
    expect(tally.throttled).toBeGreaterThan(0.05 * (tally.answered + tally.throttled));
  });

  it('keeps 429s to at most 1 % against a provider that counts the tokens used, giving back the rest', async () => {
    // Prepare
    const model = 'gpt-5-nano';
    const running = await provider({ limits: { tokenCounting: 'usage', perModel: { [model]: { tpm: TPM } } } });
    const limits = { tpm: TPM, tokenCounting: 'usage' } as const;
    const workers = [await instance(running, model, limits), await instance(running, model, limits)];

    // Act
    const tally = await run(workers, START + 4 * MINUTE);

    // Assess: more calls than a limiter that kept max_tokens could make, none over the limit
    const calls = tally.answered + tally.throttled;
    expect(tally.throttled).toBeLessThanOrEqual(0.01 * calls);
    expect(running.stats().maxTpmInAnyWindowByModel[model] ?? 0).toBeLessThanOrEqual(TPM);
    const keptMaxTokens = (4 * TPM) / 2048;
    expect(tally.answered).toBeGreaterThan(1.5 * keptMaxTokens);
  });

  it('never paces a daily request quota as a per-minute limit, and holds once the day has none left (openai-rpd)', async () => {
    // Prepare: 40 requests a day, which the provider reports in the x-ratelimit-*-requests headers; 120 a minute
    // configured
    const model = 'gpt-5-mini';
    const running = await provider({
      limits: { headers: 'openai-rpd', perModel: { [model]: { rpm: 120, rpd: 40 } } },
    });
    const limits = { rpm: 120, headers: 'openai-rpd' } as const;
    const workers = [await instance(running, model, limits), await instance(running, model, limits)];

    // Act
    const tally = await run(workers, START + 3 * MINUTE);

    // Assess: the day's 40 were used at the per-minute pace (not 40 a minute for three minutes), the answer
    // that left none held every instance, and nothing asked the provider again
    expect(tally.answered).toBe(40);
    expect(tally.throttled).toBe(0);
    const record = await limitRecord(model);
    expect(record?.advertisedRpm).toBeUndefined();
    expect(record?.heldUntil).toBeGreaterThan(START + 23 * 60 * MINUTE);
  });

  it("follows the limits a provider advertises in Anthropic's headers", async () => {
    // Prepare: the provider allows 30 requests a minute and says so only in its anthropic-ratelimit headers
    const model = 'o4-mini';
    const running = await provider({ limits: { headers: 'anthropic', perModel: { [model]: { rpm: 30 } } } });
    const limits = { rpm: 120, headers: 'anthropic' } as const;
    const workers = [await instance(running, model, limits), await instance(running, model, limits)];

    // Act
    const tally = await run(workers, START + 3 * MINUTE);

    // Assess: the lower limit was learnt from the first answer and followed, with no 429 storm
    expect((await limitRecord(model))?.advertisedRpm).toBe(30);
    expect(tally.throttled).toBeLessThanOrEqual(2);
    expect(tally.answered).toBeGreaterThanOrEqual(80);
  });
});
