import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteMessageBatchCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { itemIdOf } from '#ops/dead-letter-mover.ts';
import { peekAll, queueDepth } from '#ops/queue-io.ts';
import { InjectedCrash, LlmCallError } from '#shared/errors.ts';
import type { CrashPoint } from '#shared/faults.ts';
import type { ItemRecord } from '#shared/item-store.ts';
import { itemKey } from '#shared/table-keys.ts';
import { jsonOf, runCli, writeLocalOutputs } from '../../cli/operator-support.ts';
import { startTestPipeline, type TestPipeline } from '../../support/pipeline.ts';

/**
 * DEAD_LETTER is final except through a redrive: a duplicate of an item's message that arrives after its dead
 * letter changes nothing, and a redrive works the item once however many copies of its dead letter exist.
 */

const article = (id: string) =>
  JSON.stringify({
    id,
    title: `Example Corp news ${id}`,
    body: `Example Corp opened an office in Lisbon on Monday (${id}), the company said in a statement.`,
  });

const refused = (id: string) => (request: { itemId: string }) =>
  request.itemId === id ? new LlmCallError('provider answered 401', { status: 401, retryable: false }) : undefined;

const deadLettered = (item: ItemRecord) => item.state === 'DEAD_LETTER';
const published = (item: ItemRecord) => item.state === 'PUBLISHED';

/** The `deadLetterId` attribute of a DLQ message: the marker of the dead letter it belongs to. */
const markerOf = (message: Message) => message.MessageAttributes?.deadLetterId?.StringValue;

describe('Dead letters: a duplicate after the dead letter', () => {
  let pipeline: TestPipeline;

  beforeAll(async () => {
    pipeline = await startTestPipeline({ simulator: { latencyMs: 0 } });
    pipeline.dev.start();
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('dead-letters an item whose error holds characters SQS refuses in an attribute, the message written out', async () => {
    // Prepare: the provider refuses the item with a message holding an escape sequence and a NUL (SQS accepts
    // neither in a message attribute) and an emoji
    const hostile = `provider said \u001b]52;c;aGk=\u0007 no \u0000 thanks 🙂`;
    pipeline.llm.failWhen((request) =>
      request.itemId === 'late-hostile' ? new LlmCallError(hostile, { status: 401, retryable: false }) : undefined,
    );
    await pipeline.send('IntakeQueueUrl', article('late-hostile'));

    // Act
    const item = await pipeline.waitForItem('late-hostile', deadLettered);
    const messages = (await peekAll(pipeline.dev.sqs, pipeline.outputs.IntakeDeadLetterQueueUrl ?? '', 5)).filter(
      (message) => itemIdOf(message) === 'late-hostile',
    );

    // Assess: one DLQ message, its errorMessage attribute the error with the refused characters written out
    expect(item.state).toBe('DEAD_LETTER');
    expect(messages).toHaveLength(1);
    expect(messages[0]?.MessageAttributes?.errorMessage?.StringValue).toBe(
      'provider said \\x1b]52;c;aGk=\\x07 no \\x00 thanks 🙂',
    );
  });

  it('is acknowledged and changes nothing: the item stays DEAD_LETTER with its DLQ message, no LLM call', async () => {
    // Prepare: the provider refuses the item once, so it is dead-lettered at once
    pipeline.llm.failWhen(refused('late-1'));
    await pipeline.send('IntakeQueueUrl', article('late-1'));
    const before = await pipeline.waitForItem('late-1', deadLettered);
    const calls = pipeline.llm.callsFor('late-1').length;

    // Act: a producer's retry and an at-least-once redelivery of the same message, after the dead letter
    await pipeline.send('IntakeQueueUrl', article('late-1'));
    await pipeline.send('IntakeQueueUrl', article('late-1'));
    await waitForDrained(pipeline);

    // Assess: nothing moved, nothing was paid, the dead letter is still there to redrive
    const after = await pipeline.item('late-1');
    expect(after?.state).toBe('DEAD_LETTER');
    expect(after?.version).toBe(before.version);
    expect(pipeline.llm.callsFor('late-1')).toHaveLength(calls);
    const letters = (await peekAll(pipeline.dev.sqs, pipeline.outputs.IntakeDeadLetterQueueUrl ?? '', 1)).filter(
      (message) => itemIdOf(message) === 'late-1',
    );
    expect(letters).toHaveLength(1);
    expect(markerOf(letters[0] ?? {})).toBe(after?.deadLetter?.deadLetterId);
    expect(pipeline.metrics.sum('StaleDeliveries')).toBeGreaterThanOrEqual(2);
  });

  it('leaves an invalid item with the one dead letter it had when its bad message comes again', async () => {
    // Prepare
    const bad = JSON.stringify({ id: 'late-bad-1', title: 'No body' });
    await pipeline.send('IntakeQueueUrl', bad);
    await pipeline.waitForItem('late-bad-1', deadLettered);

    // Act
    await pipeline.send('IntakeQueueUrl', bad);
    await waitForDrained(pipeline);

    // Assess
    const letters = (await peekAll(pipeline.dev.sqs, pipeline.outputs.IntakeDeadLetterQueueUrl ?? '', 1)).filter(
      (message) => itemIdOf(message) === 'late-bad-1',
    );
    expect(letters).toHaveLength(1);
    expect((await pipeline.item('late-bad-1'))?.state).toBe('DEAD_LETTER');
  });
});

describe('Dead letters: two copies of one dead letter', () => {
  let pipeline: TestPipeline;
  let dir: string;
  let outputs: string;
  /** Items whose next pass through `after-dead-letter-send` crashes the invocation, as a kill -9 would. */
  const crashAfterSend = new Set<string>();

  beforeAll(async () => {
    pipeline = await startTestPipeline({
      simulator: { latencyMs: 0 },
      decorate: (runtime) => ({
        ...runtime,
        faults: {
          crashPoint: (point: CrashPoint, itemId: string) => {
            if (point === 'after-dead-letter-send' && crashAfterSend.delete(itemId)) throw new InjectedCrash(point);
          },
        },
      }),
    });
    dir = await mkdtemp(join(tmpdir(), 'sluice-dead-letters-'));
    outputs = join(dir, 'outputs.json');
    await writeLocalOutputs(pipeline.dev, outputs);
  });

  afterAll(async () => {
    await pipeline?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Dead-letters the item with a crash between the DLQ send and the state write, then the redelivery. */
  async function deadLetterTwice(id: string): Promise<void> {
    pipeline.llm.failWhen(refused(id));
    crashAfterSend.add(id);
    await expect(pipeline.invoke('extract', [article(id)])).rejects.toBeInstanceOf(InjectedCrash);
    // The crashed invocation's lease lapses (its visibility timeout, on SQS, is longer still); then SQS delivers the
    // message again.
    await pipeline.dev.dynamo.send(
      new UpdateCommand({
        TableName: pipeline.outputs.StateTableName,
        Key: itemKey(id),
        UpdateExpression: 'SET leaseUntil = :lapsed',
        ExpressionAttributeValues: { ':lapsed': 0 },
      }),
    );
    await pipeline.invoke('extract', [article(id)]);
  }

  it('carries the same dead-letter id in both copies, and the triage counts one item', async () => {
    // Act
    await deadLetterTwice('twice-1');
    const run = await runCli(['redrive', '--dry-run', '--json', '--stage', 'extract', '--outputs', outputs]);

    // Assess: two copies, one marker, the one on the item
    const item = await pipeline.item('twice-1');
    expect(item?.state).toBe('DEAD_LETTER');
    const letters = (await peekAll(pipeline.dev.sqs, pipeline.outputs.IntakeDeadLetterQueueUrl ?? '', 1)).filter(
      (message) => itemIdOf(message) === 'twice-1',
    );
    expect(letters.map(markerOf)).toEqual([item?.deadLetter?.deadLetterId, item?.deadLetter?.deadLetterId]);
    expect(item?.deadLetter?.deadLetterId).toEqual(expect.any(String));
    // Assess: the dry run counts messages and the distinct items they belong to
    expect(jsonOf<{ moved: number; items: number }>(run)).toMatchObject({ moved: 2, items: 1 });
  });

  it('works the item once and publishes it when sluice redrive moves both copies', async () => {
    // Prepare: the cause is fixed (the provider answers now); the item was dead-lettered twice over above
    pipeline.dev.start();

    // Act
    const run = await runCli(['redrive', '--stage', 'extract', '--json', '--outputs', outputs]);
    const item = await pipeline.waitForItem('twice-1', published);
    await waitForDrained(pipeline);

    // Assess: both copies moved; the item resumed once, each step paid once; the second copy left no dead letter
    expect(jsonOf<{ moved: number; items: number }>(run)).toMatchObject({ moved: 2, items: 1 });
    expect(resumptions(item)).toBe(1);
    expect(stepsPaidTwice(await pipeline.ledger('twice-1'))).toEqual([]);
    expect((await pipeline.item('twice-1'))?.state).toBe('PUBLISHED');
    const left = await peekAll(pipeline.dev.sqs, pipeline.outputs.IntakeDeadLetterQueueUrl ?? '', 1);
    expect(left.filter((message) => itemIdOf(message) === 'twice-1')).toEqual([]);
  });

  it('does not let the second copy restart an item its redrive dead-lettered again (a move as AWS does it)', async () => {
    // Prepare: two copies of the dead letter; the cause is not fixed, so the redrive fails once more
    await deadLetterTwice('twice-2');
    const first = await pipeline.item('twice-2');
    pipeline.llm.failWhen(refused('twice-2'));
    const calls = pipeline.llm.callsFor('twice-2').length;

    // Act: SQS's move task, which keeps body and message attributes (new message ids)
    await moveAsAwsDoes(
      pipeline.dev.sqs,
      pipeline.outputs.IntakeDeadLetterQueueUrl ?? '',
      pipeline.outputs.IntakeQueueUrl ?? '',
    );
    const again = await pipeline.waitForItem(
      'twice-2',
      (item) => deadLettered(item) && item.deadLetter?.deadLetterId !== first?.deadLetter?.deadLetterId,
    );
    await waitForDrained(pipeline);

    // Assess: one resumption, dead-lettered again under a new id whose message is in the DLQ; nothing restarted it
    const final = await pipeline.item('twice-2');
    expect(final?.state).toBe('DEAD_LETTER');
    expect(final?.version).toBe(again.version);
    expect(resumptions(final)).toBe(1);
    expect(pipeline.llm.callsFor('twice-2')).toHaveLength(calls);
    const letters = (await peekAll(pipeline.dev.sqs, pipeline.outputs.IntakeDeadLetterQueueUrl ?? '', 1)).filter(
      (message) => itemIdOf(message) === 'twice-2',
    );
    expect(letters.map(markerOf)).toEqual([final?.deadLetter?.deadLetterId]);
  });
});

/** How many times the item went back to work after a dead letter. */
function resumptions(item: ItemRecord | undefined): number {
  const states = (item?.history ?? []).map((entry) => entry.state);
  return states.filter((_state, index) => index > 0 && states[index - 1] === 'DEAD_LETTER').length;
}

function stepsPaidTwice(calls: readonly { stage: string; step: string; outcome: string }[]): string[] {
  const seen = new Map<string, number>();
  for (const call of calls) {
    if (call.outcome !== 'ok') continue;
    const key = `${call.stage}/${call.step}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  return [...seen].filter(([, n]) => n > 1).map(([key]) => key);
}

/**
 * What SQS's message move task does with a DLQ (console _Start DLQ redrive_, `start-message-move-task`): every
 * message goes to the destination with its body and message attributes, as a new message (new id, new time).
 */
async function moveAsAwsDoes(sqs: SQSClient, from: string, to: string): Promise<void> {
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: from,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 30,
        MessageAttributeNames: ['All'],
      }),
    );
    if (Messages.length === 0) return;
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: to,
        Entries: Messages.map((message, index) => ({
          Id: String(index),
          MessageBody: message.Body ?? '',
          MessageAttributes: Object.fromEntries(
            Object.entries(message.MessageAttributes ?? {}).map(([name, value]): [string, MessageAttributeValue] => [
              name,
              { DataType: value.DataType, StringValue: value.StringValue },
            ]),
          ),
        })),
      }),
    );
    await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: from,
        Entries: Messages.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle ?? '' })),
      }),
    );
  }
}

/** Waits until the intake and draft queues hold nothing visible, in flight or delayed. */
async function waitForDrained(pipeline: TestPipeline, timeoutMs = 40_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const depths = await Promise.all(
      ['IntakeQueueUrl', 'DraftQueueUrl'].map((key) => queueDepth(pipeline.dev.sqs, pipeline.outputs[key] ?? '')),
    );
    if (depths.every((depth) => depth.visible + depth.inFlight + depth.delayed === 0)) return;
    if (Date.now() > deadline) throw new Error(`the queues did not drain in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
