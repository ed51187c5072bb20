import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { limitKey } from '#shared/table-keys.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';

const DRAFT_MODEL = 'gpt-4.1-mini';

const article = (id: string) =>
  JSON.stringify({
    id,
    title: `Cloud prices drop again (${id})`,
    body:
      'The announcement was made on Tuesday by Example Corp in Berlin. Engineers said the cloud platform now ' +
      'serves 40 percent more requests than last year, and critics argue the market is concentrating.',
  });

/** Queries the draft stage sends, by what they read: the memory table or the state table (the item's ledger). */
class QueryCounter {
  memory = 0;
  ledger = 0;
  memoryTable = '';

  instrument(client: SQSClient | DynamoDBClient, owner: string): void {
    if (owner !== 'draft') return;
    (client as DynamoDBClient).middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'QueryCommand') {
          const input = args.input as { TableName?: string };
          if (input.TableName === this.memoryTable) this.memory += 1;
          else this.ledger += 1;
        }
        return next(args);
      },
      { step: 'initialize' },
    );
  }

  take(): { memory: number; ledger: number } {
    const counts = { memory: this.memory, ledger: this.ledger };
    this.memory = 0;
    this.ledger = 0;
    return counts;
  }
}

describe('Pipeline: a draft that waits reads nothing twice', () => {
  let pipeline: TestPipeline;
  const queries = new QueryCounter();

  beforeAll(async () => {
    pipeline = await startTestPipeline({
      config: { limits: { [DRAFT_MODEL]: { rpm: 10_000 } } },
      instrument: (client, owner) => queries.instrument(client, owner),
    });
    queries.memoryTable = pipeline.outputs.MemoryTableName ?? '';
    for (const id of ['past-1', 'plain-1', 'held-1', 'handed-back-1']) {
      await pipeline.invoke('extract', [article(id)]);
    }
    await pipeline.invoke('draft', [JSON.stringify({ itemId: 'past-1' })]);
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  /** The provider asked every instance to hold the draft model back for `ms` (a 429's Retry-After). */
  const holdDraftModel = (ms: number) =>
    pipeline.dev.dynamo.send(
      new PutCommand({
        TableName: pipeline.outputs.StateTableName,
        Item: { ...limitKey(DRAFT_MODEL), heldUntil: Date.now() + ms },
      }),
    );

  it('keeps the ledger and the memory lookup it read when it waits in the invocation', async () => {
    // Prepare: what a draft that never waits reads
    queries.take();
    await pipeline.invoke('draft', [JSON.stringify({ itemId: 'plain-1' })]);
    const plain = queries.take();

    // Act: a draft whose first call must wait a second, inside the invocation
    await holdDraftModel(1000);
    const outcome = await pipeline.invoke('draft', [JSON.stringify({ itemId: 'held-1' })]);
    const held = queries.take();

    // Assess
    expect(outcome.batchItemFailures).toEqual([]);
    expect((await pipeline.item('held-1'))?.state).toBe('PUBLISHED');
    expect((await pipeline.item('held-1'))?.history.map((entry) => entry.state)).toContain('REVIEWING');
    expect(plain.memory).toBeGreaterThan(0);
    expect(held).toEqual(plain);
  });

  it('keeps an answered memory lookup on the item when it hands the item back to wait, and drafts from it', async () => {
    // Prepare: a hold longer than a wait inside the invocation (2 s in the test config)
    await holdDraftModel(60_000);

    // Act: handed back to wait; then, the hold over, delivered again
    await pipeline.invoke('draft', [JSON.stringify({ itemId: 'handed-back-1' })]);
    const first = queries.take();
    const waiting = await pipeline.item('handed-back-1');
    await pipeline.dev.dynamo.send(
      new DeleteCommand({ TableName: pipeline.outputs.StateTableName, Key: limitKey(DRAFT_MODEL) }),
    );
    await pipeline.invoke('draft', [JSON.stringify({ itemId: 'handed-back-1' })]);
    const second = queries.take();

    // Assess: one lookup for the item, its answer the one the published draft was given
    const published = await pipeline.item('handed-back-1');
    expect(first.memory).toBeGreaterThan(0);
    expect(second.memory).toBe(0);
    expect(waiting?.relatedItems?.related.map((related) => related.itemId)).toContain('past-1');
    expect(published?.state).toBe('PUBLISHED');
    expect(published?.publication?.relatedItemIds).toEqual(waiting?.relatedItems?.related.map((r) => r.itemId));
    expect(published?.relatedItems).toBeUndefined();
  });
});
