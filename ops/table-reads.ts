import { type DynamoDBDocumentClient, QueryCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import type { StateCounts } from '#shared/pipeline.ts';

/** Reads of the state table that the local report, the progress view, the chaos checker and the CLI share. */

/**
 * Every row of a table, page by page (for reports over a run, not for a hot path).
 * @example const rows = await scanAll(dynamo, outputs.StateTableName);
 */
export async function scanAll(dynamo: DynamoDBDocumentClient, tableName: string): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.send(
      new ScanCommand({ TableName: tableName, ExclusiveStartKey: startKey, ConsistentRead: true }),
    );
    rows.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return rows;
}

/**
 * How many items are in each of the states (a pipeline's `states`), counted on the ByState index (no item is read).
 * @example const byState = await countItemsByState(dynamo, outputs.StateTableName, PIPELINE.states);
 */
export async function countItemsByState(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  states: readonly string[],
): Promise<StateCounts> {
  const counts = await Promise.all(
    states.map(async (state) => {
      let count = 0;
      let startKey: Record<string, unknown> | undefined;
      do {
        const page = await dynamo.send(
          new QueryCommand({
            TableName: tableName,
            IndexName: 'ByState',
            KeyConditionExpression: '#state = :state',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: { ':state': state },
            Select: 'COUNT',
            ExclusiveStartKey: startKey,
          }),
        );
        count += page.Count ?? 0;
        startKey = page.LastEvaluatedKey;
      } while (startKey !== undefined);
      return [state, count] as const;
    }),
  );
  return Object.fromEntries(counts);
}

/** An output the caller cannot do without. */
export function requiredOutput(outputs: Readonly<Record<string, string>>, key: string): string {
  const value = outputs[key];
  if (value === undefined) throw new Error(`the stack outputs have no ${key}`);
  return value;
}
