import { type MessageAttributeValue, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { inertEscape } from './inert-escape.ts';
import type { DeadLetterRecord } from './item-store.ts';

/** The message attribute that marks a stage's dead letter with the id recorded on its item. */
const DEAD_LETTER_ID_ATTRIBUTE = 'deadLetterId';
/** The message attribute of a dead letter that says how the retry policy classed its failure (`permanent`, ...). */
export const FAILURE_KIND_ATTRIBUTE = 'failureKind';

/**
 * The dead-letter id a delivered message carries: set on the handler's DLQ copy and kept by a redrive (SQS's move
 * task and `sluice redrive` keep message attributes); absent on a producer's message and its duplicates.
 * @example const carried = deadLetterIdOf(record); // 'f3b0…' on a redriven dead letter, else undefined
 */
export function deadLetterIdOf(record: Pick<SQSRecord, 'messageAttributes'>): string | undefined {
  const value = record.messageAttributes?.[DEAD_LETTER_ID_ATTRIBUTE]?.stringValue;
  return value === undefined || value === '' ? undefined : value;
}

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

  /**
   * Sends a message back to the stage's own queue, to be delivered again after `delaySeconds` (0–900). A redriven
   * dead letter handed back before its claim keeps its dead-letter id, or it would come back as a stale duplicate.
   */
  async requeue(body: string, delaySeconds: number, deadLetterId?: string): Promise<void> {
    await this.#client.send(
      new SendMessageCommand({
        QueueUrl: this.#ownQueueUrl,
        MessageBody: body,
        DelaySeconds: delaySeconds,
        ...(deadLetterId === undefined
          ? {}
          : { MessageAttributes: { [DEAD_LETTER_ID_ATTRIBUTE]: { DataType: 'String', StringValue: deadLetterId } } }),
      }),
    );
  }

  /** @example await queues.sendNext({ itemId: 'sample-001' }) */
  async sendNext(body: unknown): Promise<void> {
    await this.#client.send(
      new SendMessageCommand({ QueueUrl: this.#nextQueueUrl, MessageBody: JSON.stringify(body) }),
    );
  }

  /**
   * Sends the original message body to the stage's DLQ with the error that put it there and, when the dead letter
   * has one, its id (the item records the same id; see {@link deadLetterIdOf}).
   */
  async sendDeadLetter(body: string, itemId: string, error: DeadLetterRecord): Promise<void> {
    const text = (value: string): MessageAttributeValue => ({
      DataType: 'String',
      StringValue: sqsAttributeText(value) || '-',
    });
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
          ...(error.kind === undefined ? {} : { [FAILURE_KIND_ATTRIBUTE]: text(error.kind) }),
          ...(error.deadLetterId === undefined ? {} : { [DEAD_LETTER_ID_ATTRIBUTE]: text(error.deadLetterId) }),
        },
      }),
    );
  }
}

/**
 * What SQS refuses in a message or attribute (anything outside XML 1.0's characters: the C0 controls but tab, line
 * feed and carriage return, a lone surrogate, U+FFFE and U+FFFF), and DEL and the C1 controls, which it takes but
 * no reader of an error message wants.
 */
const SQS_REFUSED = /(?![\t\n\r])[\p{Cc}\p{Cs}\uFFFE\uFFFF]/gu;

/**
 * `value` as SQS takes it in a string attribute: each character SQS refuses (a control such as ESC or NUL, a lone
 * surrogate) written out as an inert escape (`\x1b`, `\ud83d`), so a provider's error text cannot make the
 * dead-letter send fail. Written by hand: one regular expression over the characters SQS documents.
 * @example sqsAttributeText('a\u001bb') // 'a\\x1bb'
 */
function sqsAttributeText(value: string): string {
  return value.replace(SQS_REFUSED, inertEscape);
}
