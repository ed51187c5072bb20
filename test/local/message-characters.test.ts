import { CreateTableCommand, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { ReceiveMessageCommand, SendMessageBatchCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestQueue, startTestEmulators, type TestEmulators, withTempDir } from './support.ts';

/**
 * SQS accepts #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF in a message body and
 * refuses anything else; the embedded emulator must draw the same line, or items with emoji work on AWS and fail
 * locally (and anything that refuses less would hide a message AWS refuses).
 */
const ACCEPTED: Record<string, string> = {
  'an emoji': 'Launch day 🚀',
  'an emoji sequence joined by ZWJ': 'Team 👩‍💻 at work',
  'a flag (two regional indicators)': 'Berlin 🇩🇪',
  'a CJK Extension B ideograph': '𠜎 character',
  'a mathematical letter': '𝔘𝔫𝔦𝔠𝔬𝔡𝔢',
  'the first astral code point': '\u{10000}',
  'the last code point': '\u{10FFFF}',
  'tab, newline and carriage return': 'a\tb\nc\rd',
  'the last character below the surrogates': '\uD7FF',
  'the first character after the surrogates, and U+FFFD': '\uE000\uFFFD',
};

const REFUSED: Record<string, string> = {
  'U+0000': 'nul \u0000 inside',
  'a control character below U+0020': 'bell \u0007',
  'U+FFFE': 'not a character \uFFFE',
  'U+FFFF': 'not a character \uFFFF',
  'a lone high surrogate': 'half \uD83D of an emoji',
  'a lone low surrogate': 'half \uDE80 of an emoji',
  'two low surrogates in a row': '\uDE80\uDE80',
};

describe('Emulators: the characters SQS accepts in a message body', () => {
  let local: TestEmulators;
  let queueUrl: string;

  beforeAll(async () => {
    local = await startTestEmulators();
    queueUrl = (await createTestQueue(local.sqs, 'characters', { visibilityTimeoutSeconds: 30 })).url;
  });

  afterAll(async () => {
    await local?.stop();
  });

  it.each(Object.entries(ACCEPTED))('accepts and returns intact %s', async (_, body) => {
    // Act
    await local.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));
    const { Messages = [] } = await local.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 1 }),
    );

    // Assess: the SDK also checks the MD5 of the body it gets back
    expect(Messages.map((message) => message.Body)).toEqual([body]);
  });

  it.each(Object.entries(REFUSED))('refuses %s as SQS does', async (_, body) => {
    // Act
    const sent = local.sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body }));

    // Assess
    await expect(sent).rejects.toMatchObject({ name: expect.stringMatching(/InvalidMessageContents$/) });
  });

  it('draws the same line in a batch, entry by entry', async () => {
    // Act
    const { Successful = [], Failed = [] } = await local.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: [
          { Id: 'emoji', MessageBody: 'Launch day 🚀' },
          { Id: 'lone', MessageBody: 'half \uD83D of an emoji' },
          { Id: 'fffe', MessageBody: '\uFFFE' },
        ],
      }),
    );
    const { Messages = [] } = await local.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );

    // Assess
    expect(Successful.map((entry) => entry.Id)).toEqual(['emoji']);
    expect(Failed.map((entry) => [entry.Id, entry.Code]).sort()).toEqual([
      ['fffe', 'InvalidMessageContents'],
      ['lone', 'InvalidMessageContents'],
    ]);
    expect(Messages.map((message) => message.Body)).toEqual(['Launch day 🚀']);
  });

  it('keeps astral characters in DynamoDB keys and values', async () => {
    // Prepare
    await local.dynamodb.send(
      new CreateTableCommand({
        TableName: 'characters',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    const text = Object.values(ACCEPTED).join(' | ');

    // Act
    await local.dynamodb.send(
      new PutItemCommand({
        TableName: 'characters',
        Item: { pk: { S: 'item-🚀-𠜎' }, text: { S: text }, tags: { SS: ['🇩🇪', '👩‍💻'] } },
      }),
    );
    const { Item } = await local.dynamodb.send(
      new GetItemCommand({ TableName: 'characters', Key: { pk: { S: 'item-🚀-𠜎' } }, ConsistentRead: true }),
    );

    // Assess
    expect(Item?.text?.S).toBe(text);
    expect(Item?.tags?.SS?.sort()).toEqual(['👩‍💻', '🇩🇪'].sort());
  });
});

describe('Emulators: astral characters with a data directory', () => {
  it('keeps them in a message across a restart', async () => {
    await withTempDir(async (dataDir) => {
      // Prepare
      const first = await startTestEmulators(dataDir);
      const queue = await createTestQueue(first.sqs, 'kept', { visibilityTimeoutSeconds: 30 });
      await first.sqs.send(new SendMessageCommand({ QueueUrl: queue.url, MessageBody: 'Launch day 🚀 𠜎' }));
      await first.stop();

      // Act
      const second = await startTestEmulators(dataDir);
      try {
        const { Messages = [] } = await second.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 1, WaitTimeSeconds: 1 }),
        );

        // Assess
        expect(Messages.map((message) => message.Body)).toEqual(['Launch day 🚀 𠜎']);
      } finally {
        await second.stop();
      }
    });
  });
});
