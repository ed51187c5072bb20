import {
  ChangeMessageVisibilityBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

/**
 * Queue reads and writes that operators and the local runtime share: batched sends that retry the entries a
 * batch refused, queue depths, and a non-destructive read of every message in a queue.
 */

export interface SentMessage {
  body: string;
  messageId: string;
}

/** SQS takes at most ten entries a batch. */
const BATCH = 10;
const MAX_SEND_ROUNDS = 5;

/**
 * Sends bodies in batches of ten, sending again the entries a batch failed (throttling, internal errors).
 * Throws when entries still fail after a few rounds, naming them; those sent stay sent.
 * @example const sent = await sendBodies(sqs, intakeUrl, lines);
 */
export async function sendBodies(
  sqs: SQSClient,
  queueUrl: string,
  bodies: readonly string[],
  onProgress?: (sent: number) => void,
): Promise<SentMessage[]> {
  const sent: SentMessage[] = [];
  for (let start = 0; start < bodies.length; start += BATCH) {
    let pending = bodies
      .slice(start, start + BATCH)
      .map((body, index) => ({ Id: String(start + index), MessageBody: body }));
    for (let round = 0; pending.length > 0; round += 1) {
      if (round === MAX_SEND_ROUNDS) {
        throw new Error(
          `${pending.length} message(s) could not be sent to ${queueUrl}: entries ${pending.map((p) => p.Id).join(', ')}`,
        );
      }
      const result = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }));
      for (const ok of result.Successful ?? []) {
        const entry = pending.find((p) => p.Id === ok.Id);
        if (entry && ok.MessageId) sent.push({ body: entry.MessageBody, messageId: ok.MessageId });
      }
      const failed = new Set((result.Failed ?? []).filter((f) => !f.SenderFault).map((f) => f.Id));
      const refused = (result.Failed ?? []).filter((f) => f.SenderFault);
      if (refused.length > 0) {
        throw new Error(
          `SQS refused ${refused.length} message(s): ${refused.map((f) => `entry ${f.Id}: ${f.Message}`).join('; ')}`,
        );
      }
      pending = pending.filter((p) => failed.has(p.Id));
    }
    onProgress?.(sent.length);
  }
  return sent;
}

/**
 * Whether an SQS call failed because its queue does not exist (deleted, or never created). SDK v3 names the error
 * `QueueDoesNotExist`; the query protocol's code is `AWS.SimpleQueueService.NonExistentQueue`.
 * @example if (isQueueMissing(error)) report(url);
 */
export function isQueueMissing(error: unknown): boolean {
  return error instanceof Error && /^(QueueDoesNotExist|AWS\.SimpleQueueService\.NonExistentQueue)$/.test(error.name);
}

export interface QueueDepth {
  visible: number;
  inFlight: number;
  delayed: number;
}

/** @example const { visible, inFlight } = await queueDepth(sqs, url); */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<QueueDepth> {
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
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
    delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0),
  };
}

/**
 * Reads every visible message of a queue without consuming it: receives them all under a short visibility
 * timeout, then makes them visible again. Meant for dead-letter queues, which nothing else consumes.
 */
export async function peekAll(sqs: SQSClient, queueUrl: string, holdSeconds = 30): Promise<Message[]> {
  const messages: Message[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: holdSeconds,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
      }),
    );
    if (Messages.length === 0) break;
    messages.push(...Messages);
  }
  for (let start = 0; start < messages.length; start += BATCH) {
    await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: queueUrl,
        Entries: messages.slice(start, start + BATCH).map((message, index) => ({
          Id: String(index),
          ReceiptHandle: message.ReceiptHandle ?? '',
          VisibilityTimeout: 0,
        })),
      }),
    );
  }
  return messages;
}
