import { DynamoDBClient, PutItemCommand, ScanCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { describe, expect, it } from 'vitest';
import { startLocalRuntime } from '#local/runtime.ts';
import { LocalTimeToLive } from '#local/time-to-live.ts';
import { fixtureTemplate } from './support.ts';

const NOW = Date.parse('2026-12-04T12:00:00Z');
const seconds = (ms: number) => ({ N: String(Math.floor(ms / 1000)) });

describe('Local runtime: DynamoDB Time to Live', () => {
  it('deletes what expired, as AWS does, and keeps the rest', async () => {
    // Prepare: the fixture's state table, with rows past, before and without their expiry
    const runtime = await startLocalRuntime({
      template: fixtureTemplate(),
      stackName: 'Sluice',
      handlerFor: async () => async () => ({ batchItemFailures: [] }),
    });
    const dynamodb = new DynamoDBClient(runtime.clientConfig('dynamodb'));
    const TableName = runtime.outputs.StateTableName ?? '';
    const row = (pk: string, expiresAt?: { N: string } | { S: string }) =>
      dynamodb.send(
        new PutItemCommand({ TableName, Item: { pk: { S: pk }, sk: { S: 'ITEM' }, ...(expiresAt && { expiresAt }) } }),
      );
    try {
      await row('expired', seconds(NOW - 1000));
      await row('expires-later', seconds(NOW + 60_000));
      await row('never', undefined);
      await row('not-a-number', { S: String(Math.floor((NOW - 1000) / 1000)) });
      await row('six-years-ago', seconds(NOW - 6 * 365 * 86_400_000));
      await row('moved-on', seconds(NOW - 1000));
      // A sweep that reads the table, then finds one of its rows written again (its expiry removed) before it deletes
      const racing = new DynamoDBClient(runtime.clientConfig('dynamodb'));
      racing.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'DeleteItemCommand' && JSON.stringify(args.input).includes('moved-on')) {
            await dynamodb.send(
              new UpdateItemCommand({
                TableName,
                Key: { pk: { S: 'moved-on' }, sk: { S: 'ITEM' } },
                UpdateExpression: 'REMOVE expiresAt',
              }),
            );
          }
          return next(args);
        },
        { step: 'initialize' },
      );
      const sweep = new LocalTimeToLive({ dynamodb: racing, tables: runtime.deployment.tables, now: () => NOW });

      // Act
      const deleted = await sweep.sweep();

      // Assess
      const left = (await dynamodb.send(new ScanCommand({ TableName }))).Items?.map((item) => item.pk?.S).sort();
      expect(deleted).toBe(1);
      expect(left).toEqual(['expires-later', 'moved-on', 'never', 'not-a-number', 'six-years-ago']);
      expect(runtime.deployment.tables.find((table) => table.name === TableName)?.timeToLiveAttribute).toBe(
        'expiresAt',
      );
      racing.destroy();
    } finally {
      dynamodb.destroy();
      await runtime.stop();
    }
  });
});
