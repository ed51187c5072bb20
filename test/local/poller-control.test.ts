import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SqsEventSourcePoller } from '#local/poller.ts';

/**
 * Pausing, resuming and changing the maximum concurrency of a running poller, against an in-memory queue and
 * fake time: a long poll waits on a fake timer, and handlers finish only when the test releases them.
 */

/** An SQS queue in memory, speaking the two commands the poller sends. */
class MemoryQueue {
  receives = 0;
  deleted = 0;
  #next = 0;
  #visible: { id: string; body: string }[] = [];
  #inFlight = new Map<string, { id: string; body: string }>();
  #arrivals: (() => void)[] = [];

  add(count: number): void {
    for (let index = 0; index < count; index += 1) {
      this.#next += 1;
      this.#visible.push({ id: `m-${this.#next}`, body: `item-${this.#next}` });
    }
    for (const arrive of this.#arrivals.splice(0)) arrive();
  }

  /** Messages not yet deleted: waiting or in flight. */
  get depth(): number {
    return this.#visible.length + this.#inFlight.size;
  }

  /** What the poller's `sqs.send` is given. */
  readonly client = {
    send: async (command: unknown): Promise<unknown> => {
      if (command instanceof ReceiveMessageCommand) return this.#receive(command);
      if (command instanceof DeleteMessageBatchCommand) {
        const entries = command.input.Entries ?? [];
        for (const entry of entries) this.#inFlight.delete(entry.ReceiptHandle ?? '');
        this.deleted += entries.length;
        return { Successful: entries.map((entry) => ({ Id: entry.Id })), Failed: [] };
      }
      throw new Error(`unexpected command ${String(command)}`);
    },
  };

  async #receive(command: ReceiveMessageCommand): Promise<unknown> {
    this.receives += 1;
    const { MaxNumberOfMessages = 1, WaitTimeSeconds = 0 } = command.input;
    if (this.#visible.length === 0 && WaitTimeSeconds > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, WaitTimeSeconds * 1000);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#arrivals.push(done);
      });
    }
    const taken = this.#visible.splice(0, MaxNumberOfMessages);
    for (const message of taken) this.#inFlight.set(`rh-${message.id}`, message);
    return {
      Messages: taken.map((message) => ({
        MessageId: message.id,
        ReceiptHandle: `rh-${message.id}`,
        Body: message.body,
        Attributes: {},
        MD5OfBody: '',
      })),
    };
  }
}

/** A handler whose invocations run until released, recording how many ran at once. */
class HeldHandler {
  active = 0;
  /** `active` as each invocation started, this one included. */
  readonly concurrencyAtStart: number[] = [];
  #releases: (() => void)[] = [];

  readonly handler = async (_event: SQSEvent): Promise<undefined> => {
    this.active += 1;
    this.concurrencyAtStart.push(this.active);
    await new Promise<void>((resolve) => this.#releases.push(resolve));
    this.active -= 1;
    return undefined;
  };

  /** Lets every invocation running now finish. */
  releaseAll(): void {
    for (const release of this.#releases.splice(0)) release();
  }
}

const WAIT = { timeout: 5_000, interval: 10 };

let queue: MemoryQueue;
let held: HeldHandler;
let poller: SqsEventSourcePoller;

function createPoller(options: { maxConcurrency: number; enabled?: boolean }): SqsEventSourcePoller {
  return new SqsEventSourcePoller({
    // The in-memory queue answers the only two commands the poller sends.
    sqs: queue.client as unknown as SQSClient,
    queueUrl: 'memory://queue',
    queueArn: 'arn:aws:sqs:us-east-1:000000000000:queue',
    region: 'us-east-1',
    function: {
      functionName: 'TestFn',
      functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:TestFn',
      timeoutSeconds: 900,
      memoryMb: 256,
    },
    handler: held.handler,
    batchSize: 1,
    reportBatchItemFailures: true,
    waitTimeSeconds: 20,
    ...options,
  });
}

/** Releases invocations as they come until `done` holds. */
async function drainUntil(done: () => boolean): Promise<void> {
  await vi.waitFor(() => {
    held.releaseAll();
    expect(done()).toBe(true);
  }, WAIT);
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  queue = new MemoryQueue();
  held = new HeldHandler();
});

afterEach(async () => {
  const stopped = poller.stop();
  held.releaseAll();
  await vi.advanceTimersByTimeAsync(25_000);
  await stopped;
  vi.useRealTimers();
});

describe('Class: SqsEventSourcePoller', () => {
  describe('Method: setMaxConcurrency', () => {
    it('starts no invocation beyond a lowered maximum, and more after it is raised', async () => {
      // Prepare
      queue.add(30);
      poller = createPoller({ maxConcurrency: 4 });
      poller.start();
      await vi.waitFor(() => expect(held.active).toBe(4), WAIT);
      const startedBefore = held.concurrencyAtStart.length;

      // Act: lowered while four invocations run, then those four finish
      poller.setMaxConcurrency(2);
      held.releaseAll();
      await vi.waitFor(() => expect(held.active).toBe(2), WAIT);
      await vi.advanceTimersByTimeAsync(60_000);

      // Assess: only two at a time from then on, however long they take
      expect(held.active).toBe(2);
      expect(poller.inFlight).toBe(2);
      await drainUntil(() => queue.deleted >= 12);
      expect(Math.max(...held.concurrencyAtStart.slice(startedBefore))).toBe(2);

      // Act: raised
      poller.setMaxConcurrency(5);

      // Assess
      await vi.waitFor(() => expect(held.active).toBe(5), WAIT);
      expect(poller.maxConcurrency).toBe(5);
      expect(poller.stats.maxObservedConcurrency).toBe(5);
    });

    it('refuses a maximum below one', () => {
      // Prepare
      poller = createPoller({ maxConcurrency: 2 });

      // Act & Assess
      expect(() => poller.setMaxConcurrency(0)).toThrow(RangeError);
      expect(() => poller.setMaxConcurrency(1.5)).toThrow(RangeError);
      expect(poller.maxConcurrency).toBe(2);
    });
  });

  describe('Method: pause', () => {
    it('lets the invocations in flight finish, then receives nothing until resumed', async () => {
      // Prepare
      queue.add(3);
      poller = createPoller({ maxConcurrency: 2 });
      poller.start();
      await vi.waitFor(() => expect(held.active).toBe(2), WAIT);

      // Act: paused with two invocations in flight
      let paused = false;
      const pausing = poller.pause().then(() => {
        paused = true;
      });
      await vi.advanceTimersByTimeAsync(1_000);

      // Assess: still waiting for them, and no longer polling
      expect(paused).toBe(false);
      expect(poller.running).toBe(false);
      expect(poller.enabled).toBe(false);

      // Act: they finish; more items arrive while paused, and a long time passes
      held.releaseAll();
      await pausing;
      const receives = queue.receives;
      queue.add(5);
      await vi.advanceTimersByTimeAsync(10 * 60_000);

      // Assess: nothing received or deleted while paused; every item waits in the queue
      expect(queue.receives).toBe(receives);
      expect(queue.deleted).toBe(2);
      expect(queue.depth).toBe(6);
      expect(poller.stats.inFlight).toBe(0);

      // Act
      poller.resume();

      // Assess: all of them consumed
      await drainUntil(() => queue.deleted === 8);
      expect(queue.depth).toBe(0);
      expect(poller.running).toBe(true);
    });

    it('is idempotent, and stop() while paused returns at once', async () => {
      // Prepare
      poller = createPoller({ maxConcurrency: 2 });
      poller.start();

      // Act
      const first = poller.pause();
      const second = poller.pause();
      await vi.advanceTimersByTimeAsync(20_000);
      await Promise.all([first, second]);

      // Assess
      expect(poller.running).toBe(false);
      await poller.stop();
      expect(poller.enabled).toBe(false);
    });
  });

  describe('Option: enabled', () => {
    it('receives nothing from a disabled poller until it is resumed, even once started', async () => {
      // Prepare
      queue.add(2);
      poller = createPoller({ maxConcurrency: 2, enabled: false });

      // Act
      poller.start();
      await vi.advanceTimersByTimeAsync(60_000);

      // Assess
      expect(queue.receives).toBe(0);
      expect(poller.running).toBe(false);

      // Act
      poller.resume();

      // Assess
      await drainUntil(() => queue.deleted === 2);
    });

    it('does not poll when resumed before it was started', async () => {
      // Prepare
      queue.add(1);
      poller = createPoller({ maxConcurrency: 2, enabled: false });

      // Act
      poller.resume();
      await vi.advanceTimersByTimeAsync(60_000);

      // Assess
      expect(poller.enabled).toBe(true);
      expect(queue.receives).toBe(0);
    });
  });
});
