import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PIPELINE } from '#functions/pipeline.ts';
import { STACK_NAME, synthesizeTemplate } from '#lib/template.ts';
import { type CheckOutcome, checkRun } from '#local/chaos/checker.ts';
import { ChaosCrashes } from '#local/chaos/crashes.ts';
import type { CheckerInput } from '#local/chaos/evidence.ts';
import { causeOf } from '#local/chaos/invariants/dead-letters.ts';
import { parseScenario } from '#local/chaos/scenario.ts';
import { type LocalRuntime, startLocalRuntime } from '#local/runtime.ts';
import { type CallEntry, CallLedger } from '#shared/call-ledger.ts';
import type { CrashPoint } from '#shared/faults.ts';
import { type ItemState, ItemStore } from '#shared/item-store.ts';
import type { PublishedEvent } from '#shared/schemas.ts';

/**
 * The checker on hand-made outcomes: the stack's real table and queues on the emulators, records written the
 * way the stages write them, and a violation planted in each test. A checker that passes everything is useless,
 * so each invariant is shown to fail when broken.
 */

interface Stack {
  local: LocalRuntime;
  sqs: SQSClient;
  dynamo: DynamoDBDocumentClient;
  items: ItemStore;
  ledger: CallLedger;
}

async function startStack(): Promise<Stack> {
  const local = await startLocalRuntime({
    template: synthesizeTemplate(),
    stackName: STACK_NAME,
    // The pollers are never started: the tests write the outcome themselves.
    handlerFor: async () => async () => undefined,
  });
  const sqs = new SQSClient(local.clientConfig('sqs'));
  const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient(local.clientConfig('dynamodb')), {
    marshallOptions: { removeUndefinedValues: true },
  });
  const table = local.outputs.StateTableName ?? '';
  return { local, sqs, dynamo, items: new ItemStore(dynamo, table, Date.now), ledger: new CallLedger(dynamo, table) };
}

const scenario = parseScenario({ name: 'unit', seed: 1, items: { count: 2 } });

function call(itemId: string, step: string, extra: Partial<CallEntry> = {}): CallEntry {
  return {
    itemId,
    stage: step === 'knowledge' ? 'extract' : 'draft',
    step,
    n: 0,
    model: 'gpt-4o-mini',
    outcome: 'ok',
    content: '{}',
    finishReason: 'stop',
    promptTokens: 100,
    completionTokens: 50,
    costNanoUsd: 45_000,
    latencyMs: 10,
    at: new Date().toISOString(),
    ...extra,
  };
}

describe('Function: checkRun', () => {
  let stack: Stack;

  beforeEach(async () => {
    stack = await startStack();
  });

  afterEach(async () => {
    stack.sqs.destroy();
    stack.dynamo.destroy();
    await stack.local.stop();
  });

  /** One item published by the book: its calls in the ledger and the day totals, its event on the queue. */
  async function publish(itemId: string, options: { events?: number; countUsage?: boolean; rebilled?: boolean } = {}) {
    const publicationId = `${itemId}#0`;
    await stack.items.create(itemId, {
      state: 'PUBLISHED',
      publication: {
        publicationId,
        title: itemId,
        revision: 0,
        approved: true,
        relatedItemIds: [],
        publishedAt: new Date().toISOString(),
      },
    });
    for (const entry of [
      call(itemId, 'knowledge', options.rebilled ? { rebilled: true } : {}),
      call(itemId, 'draft.0'),
    ]) {
      await stack.ledger.record(entry);
      if (options.countUsage !== false) await stack.ledger.addUsage(entry);
    }
    for (let n = 0; n < (options.events ?? 1); n += 1) {
      const event: PublishedEvent = {
        schemaVersion: 1,
        itemId,
        publicationId,
        sequence: 0,
        generation: 0,
        revision: 0,
        approved: true,
        title: itemId,
        markdown: '# post',
        degraded: [],
        source: { title: itemId },
        knowledge: { summary: 'A summary.', topics: ['cloud'], entities: [], language: 'en' },
        relatedItemIds: [],
        publishedAt: new Date().toISOString(),
      };
      await sendTo('PublishedQueueUrl', event);
    }
  }

  async function sendTo(output: string, body: unknown, itemId?: string) {
    await stack.sqs.send(
      new SendMessageCommand({
        QueueUrl: stack.local.outputs[output],
        MessageBody: JSON.stringify(body),
        ...(itemId && { MessageAttributes: { itemId: { DataType: 'String', StringValue: itemId } } }),
      }),
    );
  }

  async function check(
    itemIds: readonly string[],
    overrides: { crashes?: [CrashPoint, string][]; served?: number } = {},
  ): Promise<CheckOutcome> {
    const crashes = new ChaosCrashes(
      { ...Object.fromEntries((overrides.crashes ?? []).map(([p]) => [p, 1])), maxPerItem: 9 },
      1,
    );
    for (const [point, itemId] of overrides.crashes ?? []) {
      try {
        crashes.forStage(point === 'after-send' ? 'draft' : 'extract').crashPoint(point, itemId);
      } catch {
        // Counted: that is all these tests need of the injector.
      }
    }
    const input: CheckerInput = {
      scenario,
      pipeline: PIPELINE,
      sqs: stack.sqs,
      dynamo: stack.dynamo,
      outputs: stack.local.outputs,
      accepted: { itemIds, poisonItemIds: [] },
      messages: { sent: itemIds.length, duplicates: 0 },
      crashes: Object.assign(crashes.report(), { forItem: (id: string) => crashes.forItem(id) }),
      simulator: undefined,
      timeline: {
        memory: { windows: [], lookupsDuringOutage: 0, writesDuringOutage: 0, lookups: 0, writes: 0 },
        providerOutages: [],
        limitChanges: [],
      },
      pollerTimeouts: 0,
      settled: true,
      elapsedMs: 1000,
    };
    return checkRun(input);
  }

  const failed = (outcome: CheckOutcome) => outcome.checks.filter((result) => !result.ok).map((result) => result.name);

  it('passes a run in which every item was published once and every call counted', async () => {
    // Prepare
    await publish('a');
    await publish('b');

    // Act
    const outcome = await check(['a', 'b']);

    // Assess
    expect(failed(outcome)).toEqual([]);
    expect(outcome.counts.byState.PUBLISHED).toBe(2);
    expect(outcome.counts.events.distinctPublications).toBe(2);
  });

  it('counts an accepted item lost when it has no record, or sits in a working state with no message to move it', async () => {
    // Prepare
    await publish('a');
    await stack.items.create('b', { state: 'EXTRACTING' satisfies ItemState });

    // Act
    const outcome = await check(['a', 'b', 'never-seen']);

    // Assess
    expect(failed(outcome)).toEqual(expect.arrayContaining(['lost', 'stuck']));
    const lost = outcome.checks.find((result) => result.name === 'lost');
    expect(lost?.observed).toBe(2);
    expect(outcome.evidence.lost?.map((item) => item.itemId).sort()).toEqual(['b', 'never-seen']);
  });

  it('counts a DEAD_LETTER item lost when its message is in no DLQ, and not when it is', async () => {
    // Prepare
    const error = {
      errorClass: 'LlmCallError',
      message: 'LLM provider answered 400: bad',
      stage: 'extract' as const,
      attempts: 1,
      at: '',
    };
    await stack.items.create('kept', { state: 'DEAD_LETTER', deadLetter: error });
    await stack.items.create('dropped', { state: 'DEAD_LETTER', deadLetter: error });
    await sendTo('IntakeDeadLetterQueueUrl', { id: 'kept' }, 'kept');

    // Act
    const outcome = await check(['kept', 'dropped']);

    // Assess
    expect(outcome.evidence.lost?.map((item) => item.itemId)).toEqual(['dropped']);
    expect(failed(outcome)).not.toContain('refusalsNotRetried');
  });

  it('fails an event repeated more often than the crashes after the send explain', async () => {
    // Prepare
    await publish('a', { events: 2 });

    // Act
    const unexplained = await check(['a']);
    const explained = await check(['a'], { crashes: [['after-send', 'a']] });

    // Assess
    expect(failed(unexplained)).toEqual(['repeatedEvents']);
    expect(failed(explained)).toEqual([]);
  });

  it('fails a crash between a response and its ledger write that was repeated without being marked re-billed', async () => {
    // Prepare
    await publish('hidden');
    await publish('counted', { rebilled: true });

    // Act
    const outcome = await check(['hidden', 'counted'], {
      crashes: [
        ['after-llm-response', 'hidden'],
        ['after-llm-response', 'counted'],
      ],
    });

    // Assess
    expect(failed(outcome)).toEqual(['rebilledCalls']);
    expect(outcome.evidence.rebilledCalls?.map((item) => item.itemId)).toEqual(['hidden']);
  });

  it('fails day totals that miss calls the ledger holds', async () => {
    // Prepare
    await publish('a');
    await publish('b', { countUsage: false });

    // Act
    const outcome = await check(['a', 'b']);

    // Assess
    expect(failed(outcome)).toEqual(['usageMatchesLedger']);
  });
});

describe('Function: causeOf', () => {
  it.each([
    ['RateLimitedError', 'waiting for the limiter', 'waiting'],
    ['LlmCallError', 'LLM provider answered 429: slow down', 'waiting'],
    ['LlmCallError', 'LLM provider answered 503: overloaded', 'transient'],
    ['LlmCallError', 'LLM call timed out', 'transient'],
    ['LlmCallError', 'LLM provider answered 400: bad request', 'deliberate'],
    ['InvalidOutputError', 'draft.0 output is not valid', 'transient'],
    ['InvalidItemError', 'body is not JSON', 'deliberate'],
  ])('classifies %s "%s" as %s', (errorClass, message, cause) => {
    // Act
    const classified = causeOf({ errorClass, message, stage: 'draft', attempts: 3, at: '' });

    // Assess
    expect(classified).toBe(cause);
  });
});
