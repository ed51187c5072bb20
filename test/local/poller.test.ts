import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type InvocationEndEvent,
  type PollerErrorEvent,
  SqsEventSourcePoller,
  type SqsEventSourcePollerOptions,
} from '#local/poller.ts';
import {
  createTestQueue,
  messagesIn,
  receiveBodies,
  sendBodies,
  startTestEmulators,
  type TestEmulators,
  type TestQueue,
} from './support.ts';

let env: TestEmulators;
const running: SqsEventSourcePoller[] = [];
let queueCounter = 0;

beforeAll(async () => {
  env = await startTestEmulators();
});
afterEach(async () => {
  await Promise.all(running.splice(0).map((poller) => poller.stop()));
  vi.restoreAllMocks();
});
afterAll(async () => {
  await env.stop();
});

function uniqueName(prefix: string): string {
  queueCounter += 1;
  return `${prefix}${queueCounter}`;
}

type PollerOverrides = Partial<Omit<SqsEventSourcePollerOptions, 'function'>> & {
  readonly timeoutSeconds?: number;
};

function startPoller(queue: TestQueue, overrides: PollerOverrides): SqsEventSourcePoller {
  const { timeoutSeconds = 5, ...options } = overrides;
  const poller = new SqsEventSourcePoller({
    sqs: env.sqs,
    queueUrl: queue.url,
    queueArn: queue.arn,
    region: env.emulators.region,
    function: {
      functionName: 'TestFn',
      functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:TestFn',
      timeoutSeconds,
      memoryMb: 256,
    },
    handler: async () => undefined,
    ...options,
  });
  running.push(poller);
  poller.start();
  return poller;
}

function endsOf(poller: SqsEventSourcePoller): InvocationEndEvent[] {
  const ends: InvocationEndEvent[] = [];
  poller.on('invocationEnd', (event) => ends.push(event));
  return ends;
}

const WAIT = { timeout: 8_000, interval: 20 };

describe('Class: SqsEventSourcePoller', () => {
  describe('concurrency', () => {
    it('runs up to maxConcurrency invocations at once and never more', async () => {
      // Prepare
      const queue = await createTestQueue(env.sqs, uniqueName('Concurrency'), { visibilityTimeoutSeconds: 30 });
      await sendBodies(
        env.sqs,
        queue.url,
        Array.from({ length: 20 }, (_, index) => `item-${index}`),
      );
      let active = 0;
      let mostActive = 0;

      // Act
      const poller = startPoller(queue, {
        batchSize: 1,
        maxConcurrency: 2,
        handler: async () => {
          active += 1;
          mostActive = Math.max(mostActive, active);
          await sleep(60);
          active -= 1;
        },
      });
      await vi.waitFor(() => expect(poller.stats.messagesDeleted).toBe(20), WAIT);

      // Assess
      expect(mostActive).toBe(2);
      expect(poller.stats).toMatchObject({ invocations: 20, maxObservedConcurrency: 2, inFlight: 0 });
      expect(await messagesIn(env.sqs, queue.url)).toBe(0);
    });

    it('waits for in-flight invocations when stopped', async () => {
      // Prepare
      const queue = await createTestQueue(env.sqs, uniqueName('Stop'), { visibilityTimeoutSeconds: 30 });
      await sendBodies(env.sqs, queue.url, ['slow']);
      let finished = false;
      const poller = startPoller(queue, {
        handler: async () => {
          await sleep(300);
          finished = true;
        },
      });
      await vi.waitFor(() => expect(poller.stats.inFlight).toBe(1), WAIT);

      // Act
      await poller.stop();

      // Assess
      expect(finished).toBe(true);
      expect(poller.stats.messagesDeleted).toBe(1);
      expect(await messagesIn(env.sqs, queue.url)).toBe(0);
    });
  });

  describe('batching', () => {
    it('never puts more than batchSize records in one event', async () => {
      // Prepare
      const queue = await createTestQueue(env.sqs, uniqueName('Batch'), { visibilityTimeoutSeconds: 30 });
      await sendBodies(
        env.sqs,
        queue.url,
        Array.from({ length: 12 }, (_, index) => `item-${index}`),
      );
      const sizes: number[] = [];

      // Act
      const poller = startPoller(queue, {
        batchSize: 5,
        maxConcurrency: 1,
        handler: async (event) => {
          sizes.push(event.Records.length);
        },
      });
      await vi.waitFor(() => expect(poller.stats.messagesDeleted).toBe(12), WAIT);

      // Assess
      expect(Math.max(...sizes)).toBe(5);
      expect(sizes.reduce((sum, size) => sum + size, 0)).toBe(12);
    });

    it('gathers more than ten messages into one batch within the batching window', async () => {
      // Prepare
      const queue = await createTestQueue(env.sqs, uniqueName('Window'), { visibilityTimeoutSeconds: 30 });
      await sendBodies(
        env.sqs,
        queue.url,
        Array.from({ length: 14 }, (_, index) => `item-${index}`),
      );
      const sizes: number[] = [];

      // Act
      const poller = startPoller(queue, {
        batchSize: 20,
        maxConcurrency: 1,
        maximumBatchingWindowSeconds: 1,
        handler: async (event) => {
          sizes.push(event.Records.length);
        },
      });
      await vi.waitFor(() => expect(poller.stats.messagesDeleted).toBe(14), WAIT);

      // Assess
      expect(sizes).toEqual([14]);
    });
  });

  describe('events', () => {
    it('builds SQS records exactly as Lambda does', async () => {
      // Prepare
      const queue = await createTestQueue(env.sqs, uniqueName('Shape'), { visibilityTimeoutSeconds: 30 });
      await env.sqs.send(
        new SendMessageCommand({
          QueueUrl: queue.url,
          MessageBody: '{"id":"item-1"}',
          MessageAttributes: {
            source: { DataType: 'String', StringValue: 'feed' },
            blob: { DataType: 'Binary', BinaryValue: Buffer.from('bytes') },
          },
        }),
      );
      const events: SQSEvent[] = [];

      // Act
      const poller = startPoller(queue, {
        handler: async (event) => {
          events.push(event);
        },
      });
      await vi.waitFor(() => expect(poller.stats.messagesDeleted).toBe(1), WAIT);

      // Assess
      const record: SQSRecord | undefined = events[0]?.Records[0];
      expect(record).toEqual({
        messageId: expect.any(String),
        receiptHandle: expect.any(String),
        body: '{"id":"item-1"}',
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: expect.stringMatching(/^\d{13}$/),
          SenderId: expect.any(String),
          ApproximateFirstReceiveTimestamp: expect.stringMatching(/^\d{13}$/),
        },
        messageAttributes: {
          source: { stringValue: 'feed', stringListValues: [], binaryListValues: [], dataType: 'String' },
          blob: {
            binaryValue: Buffer.from('bytes').toString('base64'),
            stringListValues: [],
            binaryListValues: [],
            dataType: 'Binary',
          },
        },
        md5OfMessageAttributes: expect.stringMatching(/^[0-9a-f]{32}$/),
        md5OfBody: createHash('md5').update('{"id":"item-1"}').digest('hex'),
        eventSource: 'aws:sqs',
        eventSourceARN: queue.arn,
        awsRegion: 'us-east-1',
      });
    });

    it('keeps polling when an event listener throws', async () => {
      // Prepare
      const queue = await createTestQueue(env.sqs, uniqueName('Listener'), { visibilityTimeoutSeconds: 30 });
      await sendBodies(env.sqs, queue.url, ['a', 'b']);
      const warnings = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);

      // Act
      const poller = new SqsEventSourcePoller({
        sqs: env.sqs,
        queueUrl: queue.url,
        queueArn: queue.arn,
        region: env.emulators.region,
        function: { functionName: 'TestFn', functionArn: 'arn:test', timeoutSeconds: 5, memoryMb: 128 },
        handler: async () => undefined,
        batchSize: 1,
        maxConcurrency: 1,
      });
      running.push(poller);
      poller.on('invocationEnd', () => {
        throw new Error('broken display');
      });
      poller.start();
      await vi.waitFor(() => expect(poller.stats.messagesDeleted).toBe(2), WAIT);

      // Assess
      expect(warnings).toHaveBeenCalledWith(expect.stringContaining('broken display'));
    });

    it('gives the handler a context whose deadline is the function timeout away', async () => {
      // Prepare
      const queue = await createTestQueue(env.sqs, uniqueName('Context'), { visibilityTimeoutSeconds: 30 });
      await sendBodies(env.sqs, queue.url, ['one']);
      const frozenNow = Date.parse('2026-03-01T00:00:00Z');
      const remaining: number[] = [];

      // Act
      const poller = startPoller(queue, {
        timeoutSeconds: 45,
        clock: () => frozenNow,
        handler: async (_event, context) => {
          remaining.push(context.getRemainingTimeInMillis());
          expect(context.functionName).toBe('TestFn');
        },
      });
      await vi.waitFor(() => expect(poller.stats.messagesDeleted).toBe(1), WAIT);

      // Assess
      expect(remaining).toEqual([45_000]);
    });
  });

  describe('partial batch failures', () => {
    it('deletes the successes, returns the failure after its visibility timeout, then dead-letters it', async () => {
      // Prepare
      const dlq = await createTestQueue(env.sqs, uniqueName('PartialDlq'), { visibilityTimeoutSeconds: 30 });
      const queue = await createTestQueue(env.sqs, uniqueName('Partial'), {
        visibilityTimeoutSeconds: 1,
        deadLetter: { arn: dlq.arn, maxReceiveCount: 2 },
      });
      await sendBodies(env.sqs, queue.url, ['ok-1', 'fail', 'ok-2']);
      const failedReceiveCounts: string[] = [];

      // Act
      const poller = startPoller(queue, {
        batchSize: 10,
        reportBatchItemFailures: true,
        handler: async (event) => {
          const failures = event.Records.filter((record) => record.body === 'fail');
          failedReceiveCounts.push(...failures.map((record) => record.attributes.ApproximateReceiveCount));
          return { batchItemFailures: failures.map((record) => ({ itemIdentifier: record.messageId })) };
        },
      });
      await vi.waitFor(async () => expect(await messagesIn(env.sqs, dlq.url)).toBe(1), WAIT);

      // Assess
      expect(failedReceiveCounts).toEqual(['1', '2']);
      expect(poller.stats).toMatchObject({ messagesDeleted: 2, batchItemFailures: 2, errors: 0 });
      expect(await messagesIn(env.sqs, queue.url)).toBe(0);
      expect(await receiveBodies(env.sqs, dlq.url)).toEqual(['fail']);
    });

    it('deletes the whole batch for an empty or missing batchItemFailures', async () => {
      // Prepare
      const queue = await createTestQueue(env.sqs, uniqueName('Empty'), { visibilityTimeoutSeconds: 30 });
      await sendBodies(env.sqs, queue.url, ['a', 'b', 'c']);
      const responses: unknown[] = [{ batchItemFailures: [] }, undefined, { batchItemFailures: null }];

      // Act
      const poller = startPoller(queue, {
        batchSize: 1,
        maxConcurrency: 1,
        reportBatchItemFailures: true,
        handler: async () => responses.shift(),
      });
      await vi.waitFor(() => expect(poller.stats.messagesDeleted).toBe(3), WAIT);

      // Assess
      expect(poller.stats.errors).toBe(0);
    });

    it.each([
      ['an identifier not in the batch', { batchItemFailures: [{ itemIdentifier: 'not-in-this-batch' }] }],
      ['an empty identifier', { batchItemFailures: [{ itemIdentifier: '' }] }],
      ['a misspelt key', { batchItemFailures: [{ itemId: 'x' }] }],
      ['a response of the wrong shape', 'done'],
    ])('fails the whole batch on %s', async (_case, response) => {
      // Prepare
      const queue = await createTestQueue(env.sqs, uniqueName('Invalid'), { visibilityTimeoutSeconds: 30 });
      await sendBodies(env.sqs, queue.url, ['a', 'b']);
      const poller = startPoller(queue, {
        batchSize: 10,
        reportBatchItemFailures: true,
        handler: async () => response,
      });
      const ends = endsOf(poller);

      // Act
      await vi.waitFor(() => expect(ends).toHaveLength(1), WAIT);
      await poller.stop();

      // Assess
      expect(ends[0]).toMatchObject({ outcome: 'invalidResponse', records: 2, deletedMessageIds: [] });
      expect(ends[0]?.failedMessageIds).toHaveLength(2);
      expect(poller.stats).toMatchObject({ errors: 1, messagesDeleted: 0 });
      expect(await messagesIn(env.sqs, queue.url)).toBe(2);
    });

    it('ignores batchItemFailures when the mapping does not report them, deleting everything', async () => {
      // Prepare
      const queue = await createTestQueue(env.sqs, uniqueName('NoReport'), { visibilityTimeoutSeconds: 30 });
      const [id] = await sendBodies(env.sqs, queue.url, ['a']);

      // Act
      const poller = startPoller(queue, {
        reportBatchItemFailures: false,
        handler: async () => ({ batchItemFailures: [{ itemIdentifier: id }] }),
      });
      await vi.waitFor(() => expect(poller.stats.messagesDeleted).toBe(1), WAIT);

      // Assess
      expect(await messagesIn(env.sqs, queue.url)).toBe(0);
    });
  });

  describe('failures', () => {
    it('deletes nothing when the handler throws, and the batch comes back', async () => {
      // Prepare
      const queue = await createTestQueue(env.sqs, uniqueName('Throw'), { visibilityTimeoutSeconds: 1 });
      await sendBodies(env.sqs, queue.url, ['a', 'b']);
      const receiveCounts: string[] = [];
      const poller = startPoller(queue, {
        batchSize: 10,
        reportBatchItemFailures: true,
        handler: async (event) => {
          receiveCounts.push(...event.Records.map((record) => record.attributes.ApproximateReceiveCount));
          throw new Error('provider down');
        },
      });
      const ends = endsOf(poller);

      // Act
      await vi.waitFor(() => expect(ends.length).toBeGreaterThanOrEqual(2), WAIT);
      await poller.stop();

      // Assess
      expect(ends[0]).toMatchObject({ outcome: 'error', deletedMessageIds: [], error: new Error('provider down') });
      expect(receiveCounts.slice(0, 4)).toEqual(['1', '1', '2', '2']);
      expect(poller.stats.messagesDeleted).toBe(0);
      expect(await messagesIn(env.sqs, queue.url)).toBe(2);
    });

    it('treats a handler still running at its timeout as failed and ignores its late success', async () => {
      // Prepare
      const queue = await createTestQueue(env.sqs, uniqueName('Timeout'), { visibilityTimeoutSeconds: 30 });
      await sendBodies(env.sqs, queue.url, ['slow']);
      let lateResultReturned = false;
      const poller = startPoller(queue, {
        timeoutSeconds: 0.2,
        handler: async () => {
          await sleep(500);
          lateResultReturned = true;
          return { batchItemFailures: [] };
        },
      });
      const ends = endsOf(poller);
      // Whether the handler had returned when the poller reported the invocation's end: the order, not the
      // milliseconds, shows the end came at the timeout (a busy machine delays both timers alike).
      const returnedBeforeEnd: boolean[] = [];
      poller.on('invocationEnd', () => returnedBeforeEnd.push(lateResultReturned));

      // Act
      await vi.waitFor(() => expect(lateResultReturned).toBe(true), WAIT);
      await sleep(20);
      await poller.stop();

      // Assess
      expect(ends).toEqual([expect.objectContaining({ outcome: 'timeout', deletedMessageIds: [] })]);
      expect(returnedBeforeEnd).toEqual([false]);
      expect(poller.stats).toMatchObject({ timeouts: 1, messagesDeleted: 0, inFlight: 0 });
      expect(await messagesIn(env.sqs, queue.url)).toBe(1);
    });

    it('reports receive errors and retries with a backoff until the queue exists', async () => {
      // Prepare
      const name = uniqueName('Late');
      const missing: TestQueue = {
        url: `${env.emulators.sqsEndpoint}/000000000000/${name}`,
        arn: `arn:aws:sqs:us-east-1:000000000000:${name}`,
      };
      const errors: PollerErrorEvent[] = [];
      const poller = startPoller(missing, {
        maxConcurrency: 1,
        retryDelay: { initialMs: 20, maxMs: 80 },
        handler: async () => undefined,
      });
      poller.on('pollerError', (event) => errors.push(event));
      await vi.waitFor(() => expect(errors.length).toBeGreaterThanOrEqual(4), WAIT);

      // Act
      const queue = await createTestQueue(env.sqs, name, { visibilityTimeoutSeconds: 30 });
      await sendBodies(env.sqs, queue.url, ['finally']);
      await vi.waitFor(() => expect(poller.stats.messagesDeleted).toBe(1), WAIT);

      // Assess
      expect(errors.slice(0, 4).map((event) => [event.operation, event.retryInMs])).toEqual([
        ['receive', 20],
        ['receive', 40],
        ['receive', 80],
        ['receive', 80],
      ]);
      expect(poller.stats.receiveErrors).toBeGreaterThanOrEqual(4);
    });
  });
});
