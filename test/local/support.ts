import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { type Emulators, LOCAL_ACCOUNT_ID, startEmulators } from '#local/emulators.ts';
import template from './fixtures/stack.template.json' with { type: 'json' };

/** A fresh copy of the fixture template, safe to modify. */
export function fixtureTemplate(): typeof template {
  return structuredClone(template);
}

export interface TestEmulators {
  readonly emulators: Emulators;
  readonly sqs: SQSClient;
  readonly dynamodb: DynamoDBClient;
  stop(): Promise<void>;
}

export async function startTestEmulators(dataDir?: string): Promise<TestEmulators> {
  const emulators = await startEmulators({ dataDir });
  const sqs = new SQSClient({
    endpoint: emulators.sqsEndpoint,
    region: emulators.region,
    credentials: emulators.credentials,
  });
  const dynamodb = new DynamoDBClient({
    endpoint: emulators.dynamoEndpoint,
    region: emulators.region,
    credentials: emulators.credentials,
  });
  return {
    emulators,
    sqs,
    dynamodb,
    async stop() {
      sqs.destroy();
      dynamodb.destroy();
      await emulators.stop();
    },
  };
}

export interface TestQueue {
  readonly url: string;
  readonly arn: string;
}

/** A queue with a 1 s visibility timeout, so failed messages come back quickly. */
export async function createTestQueue(
  sqs: SQSClient,
  name: string,
  options: { visibilityTimeoutSeconds?: number; deadLetter?: { arn: string; maxReceiveCount: number } } = {},
): Promise<TestQueue> {
  const attributes: Record<string, string> = { VisibilityTimeout: String(options.visibilityTimeoutSeconds ?? 1) };
  if (options.deadLetter) {
    attributes.RedrivePolicy = JSON.stringify({
      deadLetterTargetArn: options.deadLetter.arn,
      maxReceiveCount: options.deadLetter.maxReceiveCount,
    });
  }
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  if (QueueUrl === undefined) {
    throw new Error(`no URL for queue ${name}`);
  }
  return { url: QueueUrl, arn: `arn:aws:sqs:us-east-1:${LOCAL_ACCOUNT_ID}:${name}` };
}

export async function sendBodies(sqs: SQSClient, queueUrl: string, bodies: readonly string[]): Promise<string[]> {
  const ids: string[] = [];
  for (let start = 0; start < bodies.length; start += 10) {
    const { Successful = [], Failed = [] } = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: bodies.slice(start, start + 10).map((body, index) => ({ Id: String(index), MessageBody: body })),
      }),
    );
    if (Failed.length > 0) {
      throw new Error(`could not send ${Failed.length} messages`);
    }
    ids.push(...Successful.flatMap((entry) => (entry.MessageId ? [entry.MessageId] : [])));
  }
  return ids;
}

/** Visible plus in-flight plus delayed messages: everything not yet deleted or moved. */
export async function messagesIn(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return (
    Number(Attributes.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0) +
    Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0)
  );
}

/** Receives what is visible right now (a short poll), making it invisible for `visibilityTimeout` seconds. */
export async function receiveBodies(sqs: SQSClient, queueUrl: string, visibilityTimeout = 30): Promise<string[]> {
  const { Messages = [] } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
      VisibilityTimeout: visibilityTimeout,
    }),
  );
  return Messages.map((message) => message.Body ?? '');
}

export async function withTempDir<T>(run: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-local-'));
  try {
    return await run(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
