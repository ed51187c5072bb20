import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { describe, expect, it, vi } from 'vitest';
import * as z from 'zod';
import type { LocalFunction } from '#local/resources.ts';
import { startLocalRuntime } from '#local/runtime.ts';
import { TemplateError } from '#local/template-expressions.ts';
import { fixtureTemplate, messagesIn, receiveBodies, withTempDir } from './support.ts';

const WAIT = { timeout: 8_000, interval: 20 };

describe('Function: startLocalRuntime', () => {
  it('runs the mapped function on messages dropped on its queue, with its local environment', async () => {
    // Prepare
    const loaded: LocalFunction[] = [];
    const seen: SQSRecord[] = [];
    const runtime = await startLocalRuntime({
      template: fixtureTemplate(),
      stackName: 'Sluice',
      handlerFor: async (fn, local) => {
        loaded.push(fn);
        const next = new SQSClient(local.clientConfig('sqs'));
        return async (event) => {
          seen.push(...event.Records);
          for (const record of event.Records) {
            await next.send(
              new SendMessageCommand({ QueueUrl: fn.environment.NEXT_QUEUE_URL, MessageBody: `${record.body}!` }),
            );
          }
          return { batchItemFailures: [] };
        };
      },
    });
    const sqs = new SQSClient(runtime.clientConfig('sqs'));
    try {
      // Act
      runtime.start();
      await sqs.send(new SendMessageCommand({ QueueUrl: runtime.outputs.IntakeQueueUrl, MessageBody: 'item' }));
      await vi.waitFor(async () => expect(await messagesIn(sqs, runtime.outputs.IntakeQueueUrl ?? '')).toBe(0), WAIT);

      // Assess
      expect(loaded.map((fn) => fn.logicalId)).toEqual(['ExtractFn3B2A1C0D']);
      expect(loaded[0]?.environment.STATE_TABLE_NAME).toBe(runtime.outputs.StateTableName);
      expect(seen.map((record) => [record.body, record.eventSourceARN])).toEqual([
        ['item', runtime.outputs.IntakeQueueArn],
      ]);
      const draftQueue = runtime.deployment.queues.find((queue) => queue.logicalId === 'DraftQueue9E8D7C6B');
      expect(await receiveBodies(sqs, draftQueue?.url ?? '')).toEqual(['item!']);
      expect(runtime.pollers.map((poller) => [poller.functionName, poller.batchSize, poller.maxConcurrency])).toEqual([
        ['ExtractFn3B2A1C0D', 5, 3],
      ]);
    } finally {
      sqs.destroy();
      await runtime.stop();
    }
  });

  it('writes the outputs file in the cdk deploy shape', async () => {
    await withTempDir(async (dir) => {
      // Prepare
      const runtime = await startLocalRuntime({
        template: fixtureTemplate(),
        stackName: 'SluiceDev',
        handlerFor: async () => async () => undefined,
      });
      const file = join(dir, 'outputs.json');

      // Act
      try {
        await runtime.writeOutputs(file);
      } finally {
        await runtime.stop();
      }

      // Assess
      const written = z
        .record(z.string(), z.record(z.string(), z.string()))
        .parse(JSON.parse(await readFile(file, 'utf8')));
      expect(written).toEqual({ SluiceDev: runtime.outputs });
    });
  });

  it('fails on an unsupported template before starting anything', async () => {
    // Prepare
    const template = { ...fixtureTemplate(), Outputs: { Imported: { Value: { 'Fn::ImportValue': 'Shared' } } } };
    const handlerFor = vi.fn(async () => async () => undefined);

    // Act
    const act = startLocalRuntime({ template, stackName: 'Sluice', handlerFor });

    // Assess
    await expect(act).rejects.toThrow(TemplateError);
    expect(handlerFor).not.toHaveBeenCalled();
  });

  it('keeps queues, messages, tables and items across a restart with a data directory', async () => {
    await withTempDir(async (dataDir) => {
      // Prepare
      const options = {
        template: fixtureTemplate(),
        stackName: 'Sluice',
        dataDir,
        handlerFor: async () => async () => undefined,
      };
      const first = await startLocalRuntime(options);
      const firstSqs = new SQSClient(first.clientConfig('sqs'));
      const firstDynamo = new DynamoDBClient(first.clientConfig('dynamodb'));
      try {
        await firstSqs.send(new SendMessageCommand({ QueueUrl: first.outputs.IntakeQueueUrl, MessageBody: 'kept' }));
        await firstDynamo.send(
          new PutItemCommand({
            TableName: first.outputs.StateTableName,
            Item: { pk: { S: 'item#1' }, sk: { S: 'state' }, state: { S: 'RECEIVED' } },
          }),
        );
      } finally {
        firstSqs.destroy();
        firstDynamo.destroy();
        await first.stop();
      }

      // Act
      const second = await startLocalRuntime(options);
      const sqs = new SQSClient(second.clientConfig('sqs'));
      const dynamodb = new DynamoDBClient(second.clientConfig('dynamodb'));
      try {
        const bodies = await receiveBodies(sqs, second.outputs.IntakeQueueUrl ?? '');
        const { Item } = await dynamodb.send(
          new GetItemCommand({
            TableName: second.outputs.StateTableName,
            Key: { pk: { S: 'item#1' }, sk: { S: 'state' } },
          }),
        );

        // Assess
        expect(bodies).toEqual(['kept']);
        expect(Item?.state).toEqual({ S: 'RECEIVED' });
        expect(second.outputs.IntakeQueueUrl).toBe(`${second.endpoints.sqs}/000000000000/IntakeQueue0C4A7E19`);
      } finally {
        sqs.destroy();
        dynamodb.destroy();
        await second.stop();
      }
    });
  });
});
