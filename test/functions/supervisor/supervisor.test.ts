import { Logger } from '@aws-lambda-powertools/logger';
import { GetEventSourceMappingCommand, LambdaClient, UpdateEventSourceMappingCommand } from '@aws-sdk/client-lambda';
import { PurgeQueueCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readSupervisorRecord } from '#functions/supervisor/supervisor.ts';
import { type DevRuntime, startDevRuntime } from '#local/dev-runtime.ts';
import { LocalSupervisor } from '#local/supervisor-timer.ts';
import { LlmCallError, MemoryUnavailableError } from '#shared/errors.ts';
import type { Completion, LlmProber, ProbeRequest } from '#shared/llm-client.ts';
import type { MemoryStore } from '#shared/memory-store.ts';
import { readControlRecord, setStagePaused } from '#shared/stage-control.ts';

/**
 * The supervisor's decisions, look by look, on the real local stack (state table, queues, event source mappings
 * through the local Lambda API) with a fake clock and a fake provider for its probes. The pollers are not started:
 * what the stages would do is written into the table as they would write it.
 */

const PAUSE_AFTER_S = 60;
const COOLDOWN_S = 30;
const MODEL = 'gpt-4o-mini';
const DRAFT_MODEL = 'gpt-4.1-mini';

class FakeProber implements LlmProber {
  readonly probes: ProbeRequest[] = [];
  healthy = false;
  /** When set, the provider is up but rate-limits: every probe is answered 429 with this Retry-After. */
  throttledFor: number | undefined;

  async probe(request: ProbeRequest): Promise<Completion> {
    this.probes.push(request);
    if (this.throttledFor !== undefined) {
      throw new LlmCallError('429 Too Many Requests', {
        status: 429,
        retryable: true,
        retryAfterMs: this.throttledFor,
      });
    }
    if (!this.healthy) throw new LlmCallError('503 Service Unavailable', { status: 503, retryable: true });
    return {
      content: '',
      finishReason: 'length',
      model: request.model,
      promptTokens: 8,
      completionTokens: 1,
      latencyMs: 40,
    };
  }
}

describe('Supervisor', () => {
  let dev: DevRuntime;
  let lambda: LambdaClient;
  let clock: number;
  let prober: FakeProber;
  let supervisor: LocalSupervisor;
  let emf: string[];
  let slept: number[];
  const table = () => dev.outputs.StateTableName ?? '';
  const mappingOf = async (stage: 'extract' | 'draft') =>
    lambda.send(
      new GetEventSourceMappingCommand({
        UUID: dev.outputs[stage === 'extract' ? 'ExtractEventSourceMappingId' : 'DraftEventSourceMappingId'],
      }),
    );
  const put = (item: Record<string, unknown>) => dev.dynamo.send(new PutCommand({ TableName: table(), Item: item }));
  /** A breaker open since `since`, last opened (by a failed probe) at `openedAt`. */
  const openBreaker = (model: string, since: number, openedAt = since) =>
    put({
      pk: `BREAKER#${model}`,
      sk: 'BREAKER',
      state: 'open',
      failures: 3,
      openedAt,
      openSince: since,
      openUntil: openedAt + COOLDOWN_S * 1000,
    });
  const metric = (name: string, stage: string) =>
    emf
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry.stage === stage && name in entry)
      .map((entry) => entry[name]);

  beforeAll(async () => {
    dev = await startDevRuntime({
      supervise: false,
      config: {
        stages: {
          extract: { maxConcurrency: 6, reservedConcurrency: 6 },
          draft: { maxConcurrency: 4, reservedConcurrency: 4 },
        },
        breaker: { cooldownSeconds: COOLDOWN_S },
        dailyBudgetUsd: 1,
        supervisor: { pauseAfterSeconds: PAUSE_AFTER_S, verifySeconds: 300, reenrich: { perSecond: 2, maxPerRun: 5 } },
      },
    });
    lambda = new LambdaClient(dev.local.clientConfig('lambda'));
  });

  afterAll(async () => {
    await supervisor?.stop();
    lambda?.destroy();
    await dev?.stop();
  });

  beforeEach(async () => {
    await supervisor?.stop();
    clock = Date.parse('2026-11-21T10:00:00Z');
    prober = new FakeProber();
    emf = [];
    slept = [];
    for (const pk of [`BREAKER#${MODEL}`, `BREAKER#${DRAFT_MODEL}`, 'BREAKER#memory']) {
      await dev.dynamo.send(new DeleteCommand({ TableName: table(), Key: { pk, sk: 'BREAKER' } }));
    }
    for (const day of ['2026-11-21', '2026-11-22']) {
      await dev.dynamo.send(new DeleteCommand({ TableName: table(), Key: { pk: `BUDGET#${day}`, sk: 'BUDGET' } }));
    }
    for (const stage of ['extract', 'draft'] as const) {
      await setStagePaused(
        { lambda, dynamo: dev.dynamo, tableName: table() },
        stage,
        (await mappingOf(stage)).UUID ?? '',
        'resume',
        { by: 'operator', now: clock },
      );
      // A clean slate: no control record (an operator's fresh resume would hold off the supervisor's pauses)
      for (const pk of [`SUPERVISOR#${stage}`, `CONTROL#${stage}`]) {
        await dev.dynamo.send(new DeleteCommand({ TableName: table(), Key: { pk, sk: pk.split('#')[0] } }));
      }
    }
    supervisor = localSupervisor();
  });

  /** The supervisor on the test's clock, prober and metrics sink; `wrapMemory` as a chaos run would give it. */
  const localSupervisor = (wrapMemory?: (memory: MemoryStore) => MemoryStore) =>
    new LocalSupervisor({
      config: dev.config,
      outputs: dev.outputs,
      dynamo: dev.dynamo,
      sqs: dev.sqs,
      lambda: new LambdaClient(dev.local.clientConfig('lambda')),
      prober,
      logger: new Logger({ serviceName: 'sluice', logLevel: 'SILENT' }),
      emf: (line) => emf.push(line),
      now: () => clock,
      sleep: async (ms) => {
        slept.push(ms);
        clock += ms;
      },
      wrapMemory,
    });

  it('pauses a stage whose model stays unavailable past the threshold, and not before', async () => {
    // Arrange
    const openedAt = clock;
    await openBreaker(MODEL, openedAt);

    // Act: a look just before the threshold, then one after it
    clock += (PAUSE_AFTER_S - 1) * 1000;
    const early = await supervisor.look();
    clock += 2000;
    const late = await supervisor.look();

    // Assess: each look records since when the stage's model was unavailable, so it can be judged on its own
    expect(early.stages.find((look) => look.stage === 'extract')).toMatchObject({
      paused: false,
      unavailableSince: new Date(openedAt).toISOString(),
    });
    expect(early.stages.find((look) => look.stage === 'draft')?.unavailableSince).toBeUndefined();
    expect(late.stages.find((look) => look.stage === 'extract')).toMatchObject({ paused: true, pausedBy: 'auto' });
    expect(['Disabled', 'Disabling']).toContain((await mappingOf('extract')).State);
    expect(await readControlRecord(dev.dynamo, table(), 'extract')).toMatchObject({ paused: true, by: 'auto' });
    expect((await readControlRecord(dev.dynamo, table(), 'extract'))?.reason).toContain(`${MODEL} unavailable`);
    expect(metric('StageAutoPaused', 'extract')).toEqual([1]);
    expect(metric('StagePaused', 'extract')).toEqual([0, 1]);
    // The draft stage's model is healthy: it keeps running.
    expect((await mappingOf('draft')).State).toBe('Enabled');
    expect(prober.probes).toEqual([]);
  });

  it('probes only once the cooldown allows, keeps the stage paused while probes fail, resumes and verifies flow', async () => {
    // Arrange: paused for an outage, a stage's probe having just failed
    const since = clock;
    clock += PAUSE_AFTER_S * 1000;
    await openBreaker(MODEL, since, clock);
    await supervisor.look();

    // Act 1: within the cooldown nothing is probed; after it, one failing probe opens the breaker again
    await supervisor.look();
    const probesInCooldown = prober.probes.length;
    clock += COOLDOWN_S * 1000;
    await supervisor.look();
    const breakerAfterFailure = (
      await dev.dynamo.send(new GetCommand({ TableName: table(), Key: { pk: `BREAKER#${MODEL}`, sk: 'BREAKER' } }))
    ).Item;

    // Act 2: the provider is back
    prober.healthy = true;
    clock += COOLDOWN_S * 1000;
    const resumed = await supervisor.look();

    // Assess
    expect(probesInCooldown).toBe(0);
    expect(prober.probes).toHaveLength(2);
    expect(prober.probes.every((probe) => probe.caller === 'supervisor' && probe.model === MODEL)).toBe(true);
    expect(breakerAfterFailure?.state).toBe('open');
    expect(resumed.stages.find((look) => look.stage === 'extract')).toMatchObject({ paused: false });
    expect((await mappingOf('extract')).State).toBe('Enabled');
    expect(await readControlRecord(dev.dynamo, table(), 'extract')).toMatchObject({ paused: false, by: 'auto' });
    const closed = (
      await dev.dynamo.send(new GetCommand({ TableName: table(), Key: { pk: `BREAKER#${MODEL}`, sk: 'BREAKER' } }))
    ).Item;
    expect(closed?.state).toBe('closed');
    expect(closed?.openSince).toBeUndefined();
    expect((await readSupervisorRecord(dev.dynamo, table(), 'extract'))?.verify).toBeDefined();

    // Act 3: a call is answered after the resume (as the extract stage would count it)
    await put({ pk: 'USAGE#2026-11-21', sk: `extract#${MODEL}`, calls: 1, latencyMsTotal: 50 });
    clock += 5000;
    await supervisor.look();
    expect(metric('ResumeVerified', 'extract')).toEqual([1]);
    expect((await readSupervisorRecord(dev.dynamo, table(), 'extract'))?.verify).toBeUndefined();
    await dev.dynamo.send(
      new DeleteCommand({ TableName: table(), Key: { pk: 'USAGE#2026-11-21', sk: `extract#${MODEL}` } }),
    );
  });

  it('resumes a stage whose probe is answered 429: the provider is up, and the limiter holds for its Retry-After', async () => {
    // Arrange: paused for an outage that is over, the provider now answering every call 429 for a while
    const since = clock;
    clock += PAUSE_AFTER_S * 1000;
    await openBreaker(MODEL, since, clock);
    await supervisor.look();
    await dev.dynamo.send(new DeleteCommand({ TableName: table(), Key: { pk: `LIMIT#${MODEL}`, sk: 'LIMIT' } }));
    prober.throttledFor = 20_000;

    // Act
    clock += COOLDOWN_S * 1000;
    const look = await supervisor.look();

    // Assess
    expect(prober.probes).toHaveLength(1);
    expect(look.stages.find((stage) => stage.stage === 'extract')).toMatchObject({ paused: false });
    expect((await mappingOf('extract')).State).toBe('Enabled');
    const breaker = (
      await dev.dynamo.send(new GetCommand({ TableName: table(), Key: { pk: `BREAKER#${MODEL}`, sk: 'BREAKER' } }))
    ).Item;
    expect(breaker?.state).toBe('closed');
    const limit = (
      await dev.dynamo.send(new GetCommand({ TableName: table(), Key: { pk: `LIMIT#${MODEL}`, sk: 'LIMIT' } }))
    ).Item;
    expect(limit?.heldUntil).toBe(clock + 20_000);
    const emitted = emf.flatMap((line) => Object.keys(JSON.parse(line) as Record<string, unknown>));
    expect(emitted.filter((name) => name === 'ProbeCalls')).toHaveLength(1);
    expect(emitted.filter((name) => name === 'ProbeFailures')).toEqual([]);
  });

  it('gives a stage an operator has just resumed the threshold before pausing it again', async () => {
    // Arrange: the extract model down for long; the operator resumes the stage to try it
    await openBreaker(MODEL, clock - 10 * 60_000, clock);
    const mappingId = (await mappingOf('extract')).UUID ?? '';
    await setStagePaused({ lambda, dynamo: dev.dynamo, tableName: table() }, 'extract', mappingId, 'pause', {
      by: 'auto',
      now: clock,
    });
    await setStagePaused({ lambda, dynamo: dev.dynamo, tableName: table() }, 'extract', mappingId, 'resume', {
      by: 'operator',
      now: clock,
    });

    // Act
    clock += (PAUSE_AFTER_S - 1) * 1000;
    const within = await supervisor.look();
    clock += 2000;
    const after = await supervisor.look();

    // Assess
    expect(within.stages.find((look) => look.stage === 'extract')?.paused).toBe(false);
    expect(after.stages.find((look) => look.stage === 'extract')).toMatchObject({ paused: true, pausedBy: 'auto' });
  });

  it("never undoes an operator's pause", async () => {
    // Arrange
    const mappingId = (await mappingOf('draft')).UUID ?? '';
    await setStagePaused({ lambda, dynamo: dev.dynamo, tableName: table() }, 'draft', mappingId, 'pause', {
      by: 'operator',
      reason: 'deploy',
      now: clock,
    });
    prober.healthy = true;

    // Act
    clock += 10 * 60_000;
    const report = await supervisor.look();

    // Assess
    expect(report.stages.find((look) => look.stage === 'draft')).toMatchObject({
      paused: true,
      pausedBy: 'operator',
      actions: [],
    });
    expect(prober.probes).toEqual([]);
    expect(await readControlRecord(dev.dynamo, table(), 'draft')).toMatchObject({
      paused: true,
      by: 'operator',
      reason: 'deploy',
    });
  });

  it('pauses both stages when the budget has no room at two looks in a row, and resumes them on the next UTC day', async () => {
    // Arrange: $1 a day, all but a hair committed
    await put({
      pk: 'BUDGET#2026-11-21',
      sk: 'BUDGET',
      day: '2026-11-21',
      committedNano: 999_999_000,
      spentNano: 999_999_000,
    });

    // Act
    const first = await supervisor.look();
    clock += 60_000;
    const second = await supervisor.look();
    const pausedControl = await readControlRecord(dev.dynamo, table(), 'draft');
    clock = Date.parse('2026-11-22T00:00:30Z');
    const nextDay = await supervisor.look();

    // Assess
    expect(first.stages.map((look) => look.paused)).toEqual([false, false]);
    expect(second.stages.map((look) => look.paused)).toEqual([true, true]);
    expect(pausedControl?.reason).toContain('daily budget of $1 is spent');
    expect(prober.probes).toEqual([]);
    expect(nextDay.stages.map((look) => look.paused)).toEqual([false, false]);
    expect((await mappingOf('extract')).State).toBe('Enabled');
    expect(metric('StageAutoResumed', 'draft')).toEqual([1]);
  });

  it('reports a resume unverified when nothing flows within the verify window while messages wait', async () => {
    // Arrange: a resume, then a message nobody processes (the pollers are not running)
    const since = clock;
    clock += PAUSE_AFTER_S * 1000;
    await openBreaker(DRAFT_MODEL, since, since);
    await supervisor.look();
    prober.healthy = true;
    clock += 1000;
    await supervisor.look();
    await dev.sqs.send(new PurgeQueueCommand({ QueueUrl: dev.outputs.DraftQueueUrl }));
    await dev.sqs.send(
      new SendMessageCommand({ QueueUrl: dev.outputs.DraftQueueUrl, MessageBody: '{"itemId":"waiting-1"}' }),
    );

    // Act
    clock += 299_000;
    await supervisor.look();
    const before = metric('ResumeUnverified', 'draft').length;
    clock += 2000;
    await supervisor.look();

    // Assess
    expect(before).toBe(0);
    expect(metric('ResumeUnverified', 'draft')).toEqual([1]);
    expect((await readSupervisorRecord(dev.dynamo, table(), 'draft'))?.lastAction?.action).toBe('resume unverified');
    await dev.sqs.send(new PurgeQueueCommand({ QueueUrl: dev.outputs.DraftQueueUrl }));
  });

  it('adapts the event source concurrency: up by one while healthy with a backlog, down on 429s or latency, within 2..max', async () => {
    // Arrange: the extract stage at 3 of its 6, messages waiting
    const mappingId = (await mappingOf('extract')).UUID ?? '';
    await lambda.send(
      new UpdateEventSourceMappingCommand({ UUID: mappingId, ScalingConfig: { MaximumConcurrency: 3 } }),
    );
    for (let index = 0; index < 3; index += 1) {
      await dev.sqs.send(
        new SendMessageCommand({ QueueUrl: dev.outputs.IntakeQueueUrl, MessageBody: `{"id":"backlog-${index}"}` }),
      );
    }
    let calls = 0;
    let latency = 0;
    let throttled = 0;
    const step = async (add: { calls: number; latencyMs: number; throttled?: number }) => {
      calls += add.calls;
      latency += add.calls * add.latencyMs;
      throttled += add.throttled ?? 0;
      await put({ pk: 'USAGE#2026-11-21', sk: `extract#${MODEL}`, calls, latencyMsTotal: latency });
      await put({ pk: `LIMIT#${MODEL}`, sk: 'LIMIT', throttled });
      clock += 60_000;
      await supervisor.look();
      return (await mappingOf('extract')).ScalingConfig?.MaximumConcurrency;
    };

    // Act and assess, look by look
    expect(await step({ calls: 10, latencyMs: 1500 })).toBe(3); // the first look only learns the counters
    expect(await step({ calls: 10, latencyMs: 1500 })).toBe(4);
    expect(await step({ calls: 10, latencyMs: 1500, throttled: 5 })).toBe(2); // 5 of 15 answered 429: 4 × 0.7
    expect(await step({ calls: 10, latencyMs: 1500, throttled: 5 })).toBe(2); // never below 2
    expect(await step({ calls: 10, latencyMs: 1500 })).toBe(3);
    expect(await step({ calls: 10, latencyMs: 4000 })).toBe(2); // 2.7× the baseline latency
    for (let look = 0; look < 6; look += 1) await step({ calls: 10, latencyMs: 1500 });
    expect((await mappingOf('extract')).ScalingConfig?.MaximumConcurrency).toBe(6); // never above the configured 6
    expect(metric('EffectiveConcurrency', 'extract').at(-1)).toBe(6);
    // A few milliseconds multiplied is noise (a fast local server on a busy machine), not a provider under strain
    for (let look = 0; look < 10; look += 1) await step({ calls: 10, latencyMs: 5 });
    expect(await step({ calls: 10, latencyMs: 40 })).toBe(6);

    await dev.sqs.send(new PurgeQueueCommand({ QueueUrl: dev.outputs.IntakeQueueUrl }));
    await dev.dynamo.send(
      new DeleteCommand({ TableName: table(), Key: { pk: 'USAGE#2026-11-21', sk: `extract#${MODEL}` } }),
    );
    await dev.dynamo.send(new DeleteCommand({ TableName: table(), Key: { pk: `LIMIT#${MODEL}`, sk: 'LIMIT' } }));
  });

  it('re-enriches nothing while the memory store fails, though its breaker counts as closed, and does once it answers', async () => {
    // Arrange: a published item drafted without history; the memory breaker closed (no failures recorded yet),
    // the store itself gone: the supervisor's memory fails every lookup until it is back
    await put({
      pk: 'ITEM#nohistory-gone',
      sk: 'ITEM',
      itemId: 'nohistory-gone',
      state: 'PUBLISHED',
      degraded: ['NO_HISTORY'],
      awaitingHistory: 'NO_HISTORY',
      updatedAt: '2026-11-21T09:00:00.000Z',
      createdAt: '2026-11-21T09:00:00.000Z',
      version: 3,
    });
    let storeUp = false;
    await supervisor.stop();
    supervisor = localSupervisor((memory) =>
      Object.assign(Object.create(memory) as MemoryStore, {
        findRelated: (query: Parameters<MemoryStore['findRelated']>[0]) =>
          storeUp
            ? memory.findRelated(query)
            : Promise.reject(new MemoryUnavailableError('memory lookup failed: ResourceNotFoundException')),
      }),
    );
    const receiveAll = async () => {
      const { Messages = [] } = await dev.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: dev.outputs.DraftQueueUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 300,
        }),
      );
      return Messages.map((message) => JSON.parse(message.Body ?? '{}'));
    };

    // Act
    const whileGone = await supervisor.look();
    const queuedWhileGone = await receiveAll();
    const item = (
      await dev.dynamo.send(new GetCommand({ TableName: table(), Key: { pk: 'ITEM#nohistory-gone', sk: 'ITEM' } }))
    ).Item;
    storeUp = true;
    clock += 60_000;
    const back = await supervisor.look();
    const queuedWhenBack = await receiveAll();

    // Assess: no redraft without history while the store is gone, and none of the item's re-enrichments spent
    expect(whileGone.reenriched).toBe(0);
    expect(queuedWhileGone).toEqual([]);
    expect(item?.autoReenrichments).toBeUndefined();
    expect(back.reenriched).toBe(1);
    expect(queuedWhenBack).toEqual([{ itemId: 'nohistory-gone', reenrich: true }]);
    await dev.dynamo.send(new DeleteCommand({ TableName: table(), Key: { pk: 'ITEM#nohistory-gone', sk: 'ITEM' } }));
  });

  it('re-queues items drafted without history once the memory store answers again: bounded, paced, once per publication', async () => {
    // Arrange: seven published items drafted without history; the memory breaker open
    const published = (id: string, updatedAt: string) =>
      put({
        pk: `ITEM#${id}`,
        sk: 'ITEM',
        itemId: id,
        state: 'PUBLISHED',
        degraded: ['NO_HISTORY'],
        awaitingHistory: 'NO_HISTORY',
        updatedAt,
        createdAt: updatedAt,
        version: 3,
      });
    const ids = Array.from({ length: 7 }, (_, index) => `nohistory-${index}`);
    for (const [index, id] of ids.entries()) await published(id, `2026-11-21T09:0${index}:00.000Z`);
    await put({
      pk: 'BREAKER#memory',
      sk: 'BREAKER',
      state: 'open',
      failures: 3,
      openedAt: clock,
      openSince: clock,
      openUntil: clock + 30_000,
    });
    const drain = async () => {
      const bodies: string[] = [];
      for (;;) {
        const { Messages = [] } = await dev.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: dev.outputs.DraftQueueUrl,
            MaxNumberOfMessages: 10,
            VisibilityTimeout: 300,
          }),
        );
        if (Messages.length === 0) return bodies;
        bodies.push(...Messages.map((message) => message.Body ?? ''));
      }
    };

    // Act
    const whileOpen = await supervisor.look();
    // The cooldown over, nobody drafting: the supervisor's own lookup is the breaker's probe, and closes it
    clock += 30_000;
    const first = await supervisor.look();
    const memoryBreaker = (
      await dev.dynamo.send(new GetCommand({ TableName: table(), Key: { pk: 'BREAKER#memory', sk: 'BREAKER' } }))
    ).Item;
    const second = await supervisor.look();
    const third = await supervisor.look();
    const sent = await drain();
    // One item is redrafted and published without history again (the memory slow once more), twice
    const republish = (updatedAt: string) =>
      dev.dynamo.send(
        new UpdateCommand({
          TableName: table(),
          Key: { pk: 'ITEM#nohistory-0', sk: 'ITEM' },
          UpdateExpression: 'SET updatedAt = :at',
          ExpressionAttributeValues: { ':at': updatedAt },
        }),
      );
    await republish('2026-11-21T11:00:00.000Z');
    const again = await supervisor.look();
    await republish('2026-11-21T12:00:00.000Z');
    const bounded = await supervisor.look();

    // Assess
    expect(whileOpen.reenriched).toBe(0);
    expect(memoryBreaker?.state).toBe('closed');
    expect([first.reenriched, second.reenriched, third.reenriched]).toEqual([5, 2, 0]);
    expect(sent.map((body) => JSON.parse(body)).sort((a, b) => a.itemId.localeCompare(b.itemId))).toEqual(
      ids.map((itemId) => ({ itemId, reenrich: true })),
    );
    // 2 a second: the five of the first look in batches of 2, 2, 1, a second apart
    expect(slept.slice(0, 2)).toEqual([1000, 1000]);
    expect(again.reenriched).toBe(1);
    expect(bounded.reenriched).toBe(0); // maxPerItem 2 (the default) reached
    const reenrichedMetric = emf
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => 'ItemsReenriched' in entry);
    expect(reenrichedMetric.map((entry) => entry.ItemsReenriched)).toEqual([5, 2, 1]);
    await drain();
    for (const id of ids)
      await dev.dynamo.send(new DeleteCommand({ TableName: table(), Key: { pk: `ITEM#${id}`, sk: 'ITEM' } }));
  });
});
