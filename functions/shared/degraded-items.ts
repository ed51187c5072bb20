import { type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { NO_HISTORY } from './item-claim.ts';

/** A published item drafted without history, as re-enrichment needs it. */
export interface DegradedItem {
  itemId: string;
  /** When the item was last written (ISO 8601): its publication, for an item at rest. */
  updatedAt: string;
  /** When the supervisor last re-queued it (ISO 8601). */
  reenrichQueuedAt?: string | undefined;
  /** How many times the supervisor has re-queued it. */
  autoReenrichments: number;
}

/**
 * Published items flagged NO_HISTORY, oldest first, from the ByState index: those `accept` takes, at most `max`.
 * @example const items = await itemsWithoutHistory(dynamo, 'StateTable', { since: '2026-11-01T00:00:00.000Z', max: 50 });
 */
export async function itemsWithoutHistory(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  options: { since?: string | undefined; max?: number | undefined; accept?: (item: DegradedItem) => boolean },
): Promise<DegradedItem[]> {
  const { since, max, accept } = options;
  const items: DegradedItem[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.send(
      new QueryCommand({
        TableName: tableName,
        IndexName: 'ByState',
        KeyConditionExpression: since === undefined ? '#state = :state' : '#state = :state AND updatedAt >= :since',
        FilterExpression: 'contains(degraded, :flag)',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: {
          ':state': 'PUBLISHED',
          ':flag': NO_HISTORY,
          ...(since === undefined ? {} : { ':since': since }),
        },
        ProjectionExpression: 'itemId, updatedAt, reenrichQueuedAt, autoReenrichments',
        ExclusiveStartKey: startKey,
      }),
    );
    for (const row of page.Items ?? []) {
      if (typeof row.itemId !== 'string') continue;
      const item: DegradedItem = {
        itemId: row.itemId,
        updatedAt: String(row.updatedAt ?? ''),
        ...(typeof row.reenrichQueuedAt === 'string' && { reenrichQueuedAt: row.reenrichQueuedAt }),
        autoReenrichments: Number(row.autoReenrichments ?? 0),
      };
      if (accept !== undefined && !accept(item)) continue;
      items.push(item);
      if (max !== undefined && items.length >= max) return items;
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return items;
}
