import {
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { startEmulators } from '#local/emulators.ts';
import { withTempDir } from './support.ts';

describe('Emulators: SQS with a data directory', () => {
  it('makes a received message visible again at once, keeping its receive count', async () => {
    await withTempDir(async (dataDir) => {
      // Prepare
      const emulators = await startEmulators({ dataDir });
      const sqs = new SQSClient({
        endpoint: emulators.sqsEndpoint,
        region: emulators.region,
        credentials: emulators.credentials,
      });
      try {
        const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'visible-again' }));
        await sqs.send(new SendMessageCommand({ QueueUrl, MessageBody: 'peeked' }));
        const first = await sqs.send(new ReceiveMessageCommand({ QueueUrl, VisibilityTimeout: 30 }));

        // Act
        await sqs.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl,
            ReceiptHandle: first.Messages?.[0]?.ReceiptHandle,
            VisibilityTimeout: 0,
          }),
        );
        const second = await sqs.send(new ReceiveMessageCommand({ QueueUrl, MessageSystemAttributeNames: ['All'] }));

        // Assess
        expect(second.Messages?.[0]?.Body).toBe('peeked');
        expect(second.Messages?.[0]?.Attributes?.ApproximateReceiveCount).toBe('2');
      } finally {
        sqs.destroy();
        await emulators.stop();
      }
    });
  });
});
