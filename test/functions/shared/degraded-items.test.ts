import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itemsAwaitingHistory, itemsWithoutHistory } from '#shared/degraded-items.ts';
import { itemKey } from '#shared/table-keys.ts';
import { type StateTable, startStateTable } from '../../support/state-table.ts';

/** A client that sums the items its queries read (ScannedCount), as DynamoDB bills them. */
function readCounting(dynamo: DynamoDBDocumentClient) {
  const counter = { scanned: 0 };
  const client = {
    send: async (command: Parameters<DynamoDBDocumentClient['send']>[0]) => {
      const output = (await dynamo.send(command)) as { ScannedCount?: number };
      counter.scanned += output.ScannedCount ?? 0;
      return output;
    },
  } as unknown as DynamoDBDocumentClient;
  return { client, counter };
}

describe('Items awaiting re-enrichment', () => {
  let table: StateTable;

  beforeAll(async () => {
    table = await startStateTable();
    // 300 items published with history, 2 published without and waiting, 1 published without and redrafted since
    const published = (id: string, extra: Record<string, unknown> = {}) => ({
      ...itemKey(id),
      itemId: id,
      state: 'PUBLISHED',
      updatedAt: `2026-11-21T09:00:00.${id.slice(-3).padStart(3, '0')}Z`,
      ...extra,
    });
    const rows = [
      ...Array.from({ length: 300 }, (_, index) => published(`with-history-${index}`, { degraded: [] })),
      published('waiting-1', { degraded: ['NO_HISTORY'], awaitingHistory: 'NO_HISTORY' }),
      published('waiting-2', { degraded: ['NO_HISTORY'], awaitingHistory: 'NO_HISTORY', autoReenrichments: 1 }),
      published('from-before-the-index', { degraded: ['NO_HISTORY'] }),
    ];
    for (let start = 0; start < rows.length; start += 25) {
      const batch = rows.slice(start, start + 25).map((Item) => ({ PutRequest: { Item } }));
      await table.dynamo.send(new BatchWriteCommand({ RequestItems: { [table.tableName]: batch } }));
    }
  });

  afterAll(async () => {
    await table?.stop();
  });

  it("reads only the items waiting, however many were published: the supervisor's look", async () => {
    // Prepare
    const { client, counter } = readCounting(table.dynamo);

    // Act
    const items = await itemsAwaitingHistory(client, table.tableName, {});

    // Assess
    expect(items.map((item) => [item.itemId, item.autoReenrichments]).sort()).toEqual([
      ['waiting-1', 0],
      ['waiting-2', 1],
    ]);
    expect(counter.scanned).toBe(2);
  });

  it("reads every published item for an operator's search, and finds those flagged before the index", async () => {
    // Prepare
    const { client, counter } = readCounting(table.dynamo);

    // Act
    const items = await itemsWithoutHistory(client, table.tableName, {});

    // Assess
    expect(items.map((item) => item.itemId).sort()).toEqual(['from-before-the-index', 'waiting-1', 'waiting-2']);
    expect(counter.scanned).toBe(303);
  });
});
