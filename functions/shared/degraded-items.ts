import { type DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';

/**
 * The items published without history (flag NO_HISTORY), as re-enrichment finds them. A publication flagged so sets
 * {@link AWAITING_HISTORY_ATTRIBUTE} on the item, and the claim that drafts it again removes it; the sparse
 * {@link AWAITING_HISTORY_INDEX} holds only the items that carry it. The supervisor's look reads that index, so its
 * cost follows the items waiting, not every item ever published. `sluice reenrich` reads the published items
 * themselves, so it also finds those published without history before the index existed.
 */

/** The flag of items drafted without history, the ones re-enrichment is for. */
export const NO_HISTORY = 'NO_HISTORY';

/** Set (to {@link NO_HISTORY}) while an item published without history waits to be drafted again. */
export const AWAITING_HISTORY_ATTRIBUTE = 'awaitingHistory';

/** The sparse index on {@link AWAITING_HISTORY_ATTRIBUTE} and `updatedAt`. */
export const AWAITING_HISTORY_INDEX = 'AwaitingHistory';

/** What the index holds of each item beyond its keys: what re-enrichment decides on. */
export const AWAITING_HISTORY_PROJECTION = ['itemId', 'reenrichQueuedAt', 'autoReenrichments'] as const;

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

interface DegradedQuery {
  since?: string | undefined;
  max?: number | undefined;
  accept?: (item: DegradedItem) => boolean;
}

/**
 * Items waiting to be drafted again with history, oldest first, from the sparse AwaitingHistory index: those
 * `accept` takes, at most `max`. What the supervisor re-queues.
 * @example const items = await itemsAwaitingHistory(dynamo, 'StateTable', { max: 50 });
 */
export function itemsAwaitingHistory(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  options: DegradedQuery,
): Promise<DegradedItem[]> {
  return queryDegraded(dynamo, options, {
    TableName: tableName,
    IndexName: AWAITING_HISTORY_INDEX,
    ...partitionSince(AWAITING_HISTORY_ATTRIBUTE, NO_HISTORY, options.since),
  });
}

/**
 * Published items flagged NO_HISTORY, oldest first, read from every published item on the ByState index: those
 * `accept` takes, at most `max`. For an operator's complete search; the supervisor uses {@link itemsAwaitingHistory}.
 * @example const items = await itemsWithoutHistory(dynamo, 'StateTable', { since: '2026-11-01T00:00:00.000Z', max: 50 });
 */
export function itemsWithoutHistory(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  options: DegradedQuery,
): Promise<DegradedItem[]> {
  const published = partitionSince('state', 'PUBLISHED', options.since);
  return queryDegraded(dynamo, options, {
    TableName: tableName,
    IndexName: 'ByState',
    ...published,
    FilterExpression: 'contains(degraded, :flag)',
    ExpressionAttributeValues: { ...published.ExpressionAttributeValues, ':flag': NO_HISTORY },
  });
}

/** The key condition of an index whose partition key `attribute` is `value` and sort key `updatedAt`, from `since`. */
function partitionSince(attribute: string, value: string, since: string | undefined) {
  const values: Record<string, unknown> = { ':key': value, ...(since === undefined ? {} : { ':since': since }) };
  return {
    KeyConditionExpression: since === undefined ? '#key = :key' : '#key = :key AND updatedAt >= :since',
    ExpressionAttributeNames: { '#key': attribute },
    ExpressionAttributeValues: values,
  };
}

async function queryDegraded(
  dynamo: DynamoDBDocumentClient,
  { max, accept }: DegradedQuery,
  query: QueryCommandInput,
): Promise<DegradedItem[]> {
  const items: DegradedItem[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.send(
      new QueryCommand({
        ...query,
        ProjectionExpression: ['updatedAt', ...AWAITING_HISTORY_PROJECTION].join(', '),
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
