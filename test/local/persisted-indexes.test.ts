import { spawn } from 'node:child_process';
import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { startTestEmulators, withTempDir } from './support.ts';

const KILLED = new URL('./fixtures/killed-between-index-and-item.ts', import.meta.url).pathname;

/** Runs the fixture that dies with SIGKILL inside a write, and resolves with the signal that ended it. */
function runKilled(dataDir: string): Promise<NodeJS.Signals | null> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    const child = spawn(process.execPath, [KILLED, dataDir], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr.on('data', (chunk) => {
      stderr += String(chunk);
    });
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0 || code === null ? resolve(signal) : reject(new Error(`the fixture failed (${code}):\n${stderr}`)),
    );
  });
}

describe('Emulators: DynamoDB with a data directory, after a kill inside a write', () => {
  it('lists the item by the state it holds, and by no state it never reached', async () => {
    await withTempDir(async (dataDir) => {
      // Prepare: a process killed after dynalite wrote the item's index entries and before it wrote the item
      expect(await runKilled(dataDir)).toBe('SIGKILL');

      // Act: the emulators started again on the same data dir
      const test = await startTestEmulators(dataDir);
      const dynamo = DynamoDBDocumentClient.from(test.dynamodb);
      try {
        const listed = async (state: string) =>
          (
            await dynamo.send(
              new QueryCommand({
                TableName: 'crash',
                IndexName: 'ByState',
                KeyConditionExpression: '#state = :state',
                ExpressionAttributeNames: { '#state': 'state' },
                ExpressionAttributeValues: { ':state': state },
              }),
            )
          ).Items ?? [];
        const item = (await dynamo.send(new GetCommand({ TableName: 'crash', Key: { pk: 'ITEM#1' } }))).Item;

        // Assess: the index agrees with the item as the table holds it, as DynamoDB's indexes always converge to
        expect(item).toMatchObject({ state: 'READY', updatedAt: 't0' });
        expect(await listed('READY')).toEqual([item]);
        expect(await listed('WORKING')).toEqual([]);
      } finally {
        await test.stop();
      }
    });
  });
});
