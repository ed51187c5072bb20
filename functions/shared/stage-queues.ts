import { type MessageAttributeValue, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { ErrorRecord } from './item-store.ts';

/**
 * The queues a stage writes to: the next stage's queue and its own dead-letter queue. Dead letters carry the
 * error as message attributes, so an operator sees why in the console without opening the state table.
 */
export class StageQueues {
  readonly #client: SQSClient;
  readonly #ownQueueUrl: string;
  readonly #nextQueueUrl: string;
  readonly #deadLetterQueueUrl: string;

  constructor(client: SQSClient, urls: { own: string; next: string; deadLetter: string }) {
    this.#client = client;
    this.#ownQueueUrl = urls.own;
    this.#nextQueueUrl = urls.next;
    this.#deadLetterQueueUrl = urls.deadLetter;
  }

  /** Sends a message back to the stage's own queue, to be delivered again after `delaySeconds` (0–900). */
  async requeue(body: string, delaySeconds: number): Promise<void> {
    await this.#client.send(
      new SendMessageCommand({ QueueUrl: this.#ownQueueUrl, MessageBody: body, DelaySeconds: delaySeconds }),
    );
  }

  /** @example await queues.sendNext({ itemId: 'sample-001' }) */
  async sendNext(body: unknown): Promise<void> {
    await this.#client.send(
      new SendMessageCommand({ QueueUrl: this.#nextQueueUrl, MessageBody: JSON.stringify(body) }),
    );
  }

  /** Sends the original message body to the stage's DLQ with the error that put it there. */
  async sendDeadLetter(body: string, itemId: string, error: ErrorRecord): Promise<void> {
    const text = (value: string): MessageAttributeValue => ({ DataType: 'String', StringValue: value || '-' });
    await this.#client.send(
      new SendMessageCommand({
        QueueUrl: this.#deadLetterQueueUrl,
        MessageBody: body,
        MessageAttributes: {
          itemId: text(itemId),
          stage: text(error.stage),
          errorClass: text(error.errorClass),
          errorMessage: text(error.message.slice(0, 1000)),
          attempts: { DataType: 'Number', StringValue: String(error.attempts) },
        },
      }),
    );
  }
}
