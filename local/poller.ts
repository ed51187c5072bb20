import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DeleteMessageBatchCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSEvent, SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import * as z from 'zod';
import { createLambdaContext, newLogStreamName } from './lambda-context.ts';

/**
 * A Lambda handler for SQS events. The result is `unknown` because it is checked at run time, as Lambda
 * checks it: `SQSBatchResponse`, `undefined` or `null` are valid, anything else fails the batch.
 */
export type SqsFunctionHandler = (event: SQSEvent, context: Context) => Promise<unknown>;

/** What the poller needs to know about the function it invokes (a `LocalFunction` has all of it). */
export interface PolledFunction {
  readonly functionName: string;
  readonly functionArn: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
}

export interface SqsEventSourcePollerOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly region: string;
  readonly function: PolledFunction;
  readonly handler: SqsFunctionHandler;
  /** @default 10 */
  readonly batchSize?: number;
  /** Most concurrent invocations. @default 5 */
  readonly maxConcurrency?: number;
  /** The mapping's `Enabled`: a disabled poller receives nothing until {@link SqsEventSourcePoller.resume}. @default true */
  readonly enabled?: boolean;
  /** The mapping's `FunctionResponseTypes: ['ReportBatchItemFailures']`. @default false */
  readonly reportBatchItemFailures?: boolean;
  /** How long to keep gathering messages towards `batchSize` once one arrived. @default 0 */
  readonly maximumBatchingWindowSeconds?: number;
  /** Long-poll wait of each receive; short so `stop()` returns quickly. @default 1 */
  readonly waitTimeSeconds?: number;
  /** Delay before retrying after a failed receive, doubling up to the maximum. @default { initialMs: 100, maxMs: 5000 } */
  readonly retryDelay?: { readonly initialMs: number; readonly maxMs: number };
  /** Time source of invocation deadlines and contexts. @default Date.now */
  readonly clock?: () => number;
  /**
   * Chaos runs only: return true to lose the deletes of a finished invocation, as if the event source crashed
   * between the function's return and its DeleteMessageBatch. The messages come back after their visibility timeout.
   */
  readonly loseDeletes?: (messageIds: readonly string[]) => boolean;
}

/** How an invocation ended, as the event source mapping sees it. */
export type InvocationOutcome = 'success' | 'partialFailure' | 'error' | 'invalidResponse' | 'timeout';

export interface InvocationStartEvent {
  readonly functionName: string;
  readonly awsRequestId: string;
  readonly messageIds: readonly string[];
  /** Invocations in flight, this one included. */
  readonly concurrency: number;
}

export interface InvocationEndEvent {
  readonly functionName: string;
  readonly awsRequestId: string;
  readonly outcome: InvocationOutcome;
  readonly records: number;
  readonly deletedMessageIds: readonly string[];
  /** Messages left for their visibility timeout to return them. */
  readonly failedMessageIds: readonly string[];
  readonly durationMs: number;
  /** What the handler threw, or why its response was invalid. */
  readonly error?: unknown;
}

export interface PollerErrorEvent {
  readonly functionName: string;
  readonly operation: 'receive' | 'delete';
  readonly error: unknown;
  /** Set when the poller waits before receiving again. */
  readonly retryInMs?: number;
}

export interface PollerStats {
  readonly invocations: number;
  readonly messagesReceived: number;
  readonly messagesDeleted: number;
  /** Messages the handler reported in `batchItemFailures`. */
  readonly batchItemFailures: number;
  /** Invocations that threw or answered with an invalid response. */
  readonly errors: number;
  readonly timeouts: number;
  readonly receiveErrors: number;
  readonly maxObservedConcurrency: number;
  readonly inFlight: number;
}

export interface SqsEventSourcePollerEvents {
  invocationStart: [InvocationStartEvent];
  invocationEnd: [InvocationEndEvent];
  pollerError: [PollerErrorEvent];
  stats: [PollerStats];
}

const DEFAULT_BATCH_SIZE = 10;
const DEFAULT_MAX_CONCURRENCY = 5;
/** ReceiveMessage and DeleteMessageBatch both take at most 10 messages. */
const SQS_MAX_PER_CALL = 10;

const batchResponseSchema = z.union([
  z.null(),
  z.undefined(),
  z.object({
    batchItemFailures: z.array(z.object({ itemIdentifier: z.string().min(1) })).nullish(),
  }),
]);

type HandlerResult =
  | { readonly kind: 'returned'; readonly value: unknown }
  | { readonly kind: 'threw'; readonly error: unknown }
  | { readonly kind: 'timeout' };

interface Settlement {
  readonly outcome: InvocationOutcome;
  readonly deleteIds: ReadonlySet<string>;
  readonly error?: unknown;
}

type ReceivedMessage = Message & { MessageId: string; ReceiptHandle: string };

/** The workers started by one `start()` or `resume()`; `pause()` and `stop()` abort them together. */
interface Generation {
  readonly controller: AbortController;
  /** Workers of this generation still looping. */
  live: number;
}

/**
 * Emulates the Lambda SQS event source mapping for one function: long-polls the queue, invokes the handler
 * with Lambda-shaped `SQSEvent`s and contexts, at most `maxConcurrency` invocations at a time, and deletes
 * what the invocation succeeded on. With `reportBatchItemFailures` only the messages not listed in
 * `batchItemFailures` are deleted and an invalid response fails the whole batch; a throw or a timeout
 * deletes nothing. Failed messages come back after their visibility timeout; moving them to a dead-letter
 * queue after `maxReceiveCount` is the queue's job. A handler that times out is abandoned, not stopped: its
 * late result is ignored, but its side effects still happen (unlike Lambda, which freezes the environment).
 *
 * Like a mapping's `UpdateEventSourceMapping`, the poller can be disabled and enabled (`pause()`, `resume()`)
 * and given a new maximum concurrency or batching while it runs; in-flight invocations always finish.
 *
 * @example
 * ```ts
 * const poller = new SqsEventSourcePoller({
 *   sqs, queueUrl, queueArn, region, function: localFunction, handler,
 *   batchSize: 5, maxConcurrency: 2, reportBatchItemFailures: true,
 * });
 * poller.on('invocationEnd', (event) => console.log(event.outcome, event.records));
 * poller.start();
 * // ...
 * await poller.pause(); // nothing is received until resume()
 * poller.setMaxConcurrency(4);
 * poller.resume();
 * await poller.stop();
 * ```
 */
export class SqsEventSourcePoller extends EventEmitter<SqsEventSourcePollerEvents> {
  readonly functionName: string;
  readonly queueUrl: string;
  readonly queueArn: string;

  readonly #options: SqsEventSourcePollerOptions;
  readonly #clock: () => number;
  readonly #waitTimeSeconds: number;
  #batchSize: number;
  #batchingWindowMs: number;
  #maxConcurrency: number;
  /** Between `start()` and `stop()`: the runtime wants the poller running. */
  #started = false;
  /** The mapping's `Enabled`. */
  #enabled: boolean;
  /** The workers now receiving; undefined while stopped or paused. */
  #generation: Generation | undefined;
  /** Every worker not yet finished, of this generation and of aborted ones still settling an invocation. */
  readonly #workers = new Set<Promise<void>>();
  /** Workers holding received messages while every invocation slot is taken (after a lowered maximum). */
  #slotWaiters: (() => void)[] = [];
  #stats = {
    invocations: 0,
    messagesReceived: 0,
    messagesDeleted: 0,
    batchItemFailures: 0,
    errors: 0,
    timeouts: 0,
    receiveErrors: 0,
    maxObservedConcurrency: 0,
    inFlight: 0,
  };

  constructor(options: SqsEventSourcePollerOptions) {
    super();
    this.#options = options;
    this.functionName = options.function.functionName;
    this.queueUrl = options.queueUrl;
    this.queueArn = options.queueArn;
    this.#clock = options.clock ?? Date.now;
    this.#waitTimeSeconds = options.waitTimeSeconds ?? 1;
    this.#enabled = options.enabled ?? true;
    this.#batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
    this.#batchingWindowMs = (options.maximumBatchingWindowSeconds ?? 0) * 1000;
    this.#maxConcurrency = options.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY;
    assertBatchSize(this.#batchSize);
    if (!Number.isInteger(this.#maxConcurrency) || this.#maxConcurrency < 0) {
      throw new RangeError(`maxConcurrency must be a non-negative integer, got ${this.#maxConcurrency}`);
    }
  }

  /** A snapshot of the counters since construction. */
  get stats(): PollerStats {
    return { ...this.#stats };
  }

  /** Records per invocation at most. */
  get batchSize(): number {
    return this.#batchSize;
  }

  /** How long a receive keeps gathering messages towards `batchSize`, in seconds. */
  get maximumBatchingWindowSeconds(): number {
    return this.#batchingWindowMs / 1000;
  }

  /** Most invocations in flight at once. */
  get maxConcurrency(): number {
    return this.#maxConcurrency;
  }

  /** The mapping's `Enabled`: false after `pause()` (or `enabled: false`) until `resume()`. */
  get enabled(): boolean {
    return this.#enabled;
  }

  /** Whether workers are receiving: started and enabled. */
  get running(): boolean {
    return this.#generation !== undefined;
  }

  /** Invocations running now. */
  get inFlight(): number {
    return this.#stats.inFlight;
  }

  /** Starts polling (unless disabled); each of `maxConcurrency` workers receives a batch, invokes, deletes, and repeats. */
  start(): void {
    this.#started = true;
    if (this.#enabled && this.#generation === undefined) {
      this.#spawn();
    }
  }

  /** Stops receiving and resolves once in-flight invocations have finished (or timed out) and been settled. */
  async stop(): Promise<void> {
    this.#started = false;
    await this.#halt();
  }

  /**
   * Disables the mapping: no receive starts from now on, and the returned promise resolves once the invocations
   * in flight (and the messages an ongoing long poll brings back) have been settled. Messages wait in the queue.
   * Idempotent.
   * @example await poller.pause(); // the queue's depth now stays where it is
   */
  async pause(): Promise<void> {
    this.#enabled = false;
    await this.#halt();
  }

  /**
   * Enables the mapping again; polling restarts at once if the poller was started. Idempotent.
   * @example poller.resume();
   */
  resume(): void {
    this.#enabled = true;
    if (this.#started && this.#generation === undefined) {
      this.#spawn();
    }
  }

  /**
   * Changes the most invocations in flight at once, live: raised, new workers start receiving at once; lowered,
   * workers beyond the new maximum retire after their current invocation, and no new invocation starts while
   * the maximum is reached (invocations already running finish).
   * @example poller.setMaxConcurrency(2);
   */
  setMaxConcurrency(maxConcurrency: number): void {
    if (!Number.isInteger(maxConcurrency) || maxConcurrency < 1) {
      throw new RangeError(`maxConcurrency must be a positive integer, got ${maxConcurrency}`);
    }
    this.#maxConcurrency = maxConcurrency;
    if (this.#generation !== undefined) {
      this.#grow(this.#generation);
    }
    this.#wakeSlotWaiters();
  }

  /**
   * Changes the batching of the receives that start from now on.
   * @example poller.setBatching({ batchSize: 20, maximumBatchingWindowSeconds: 1 });
   */
  setBatching(batching: { readonly batchSize: number; readonly maximumBatchingWindowSeconds: number }): void {
    assertBatchSize(batching.batchSize);
    if (!Number.isFinite(batching.maximumBatchingWindowSeconds) || batching.maximumBatchingWindowSeconds < 0) {
      throw new RangeError(
        `maximumBatchingWindowSeconds must be a non-negative number, got ${batching.maximumBatchingWindowSeconds}`,
      );
    }
    this.#batchSize = batching.batchSize;
    this.#batchingWindowMs = batching.maximumBatchingWindowSeconds * 1000;
  }

  #spawn(): void {
    const generation: Generation = { controller: new AbortController(), live: 0 };
    this.#generation = generation;
    this.#grow(generation);
  }

  /** Adds workers to the generation up to the maximum concurrency. */
  #grow(generation: Generation): void {
    while (generation.live < this.#maxConcurrency) {
      generation.live += 1;
      // Each worker stands for one execution environment, so it keeps one log stream.
      const worker = this.#work(generation, newLogStreamName(this.#clock())).finally(() => {
        this.#workers.delete(worker);
      });
      this.#workers.add(worker);
    }
  }

  /** Aborts the current workers and waits for every worker running now (not for those a later resume starts). */
  async #halt(): Promise<void> {
    const generation = this.#generation;
    this.#generation = undefined;
    generation?.controller.abort();
    await Promise.all([...this.#workers]);
  }

  async #work(generation: Generation, logStreamName: string): Promise<void> {
    const { initialMs, maxMs } = this.#options.retryDelay ?? { initialMs: 100, maxMs: 5000 };
    const { signal } = generation.controller;
    let failures = 0;
    try {
      while (!signal.aborted) {
        // A lowered maximum retires the workers beyond it, one at a time as they come round.
        if (generation.live > this.#maxConcurrency) {
          return;
        }
        let messages: ReceivedMessage[];
        try {
          messages = await this.#receiveBatch(signal);
          failures = 0;
        } catch (error) {
          failures += 1;
          const retryInMs = Math.min(maxMs, initialMs * 2 ** (failures - 1));
          this.#stats.receiveErrors += 1;
          this.#emit('pollerError', { functionName: this.functionName, operation: 'receive', error, retryInMs });
          await this.#pause(retryInMs, signal);
          continue;
        }
        // Messages already received are invoked even when stopping or pausing: they are in flight and would
        // otherwise wait out their visibility timeout.
        if (messages.length > 0) {
          await this.#invoke(messages, logStreamName);
        }
      }
    } finally {
      generation.live -= 1;
    }
  }

  /**
   * Takes one invocation slot, waiting while `maxConcurrency` invocations are in flight. The slot is counted
   * here, synchronously with the check, so two workers woken together cannot both take the last one.
   */
  async #acquireSlot(): Promise<void> {
    while (this.#stats.inFlight >= this.#maxConcurrency) {
      await new Promise<void>((resolve) => {
        this.#slotWaiters.push(resolve);
      });
    }
    this.#stats.inFlight += 1;
    this.#stats.maxObservedConcurrency = Math.max(this.#stats.maxObservedConcurrency, this.#stats.inFlight);
  }

  #releaseSlot(): void {
    this.#stats.inFlight -= 1;
    this.#wakeSlotWaiters();
  }

  #wakeSlotWaiters(): void {
    const waiters = this.#slotWaiters;
    this.#slotWaiters = [];
    for (const wake of waiters) {
      wake();
    }
  }

  async #receiveBatch(signal: AbortSignal): Promise<ReceivedMessage[]> {
    const batchSize = this.#batchSize;
    const batchingWindowMs = this.#batchingWindowMs;
    const batch = await this.#receive(Math.min(SQS_MAX_PER_CALL, batchSize), this.#waitTimeSeconds);
    if (batch.length === 0 || batch.length >= batchSize || batchingWindowMs === 0) {
      return batch;
    }
    const windowEnd = this.#clock() + batchingWindowMs;
    while (batch.length < batchSize && !signal.aborted) {
      const remainingMs = windowEnd - this.#clock();
      if (remainingMs <= 0) {
        break;
      }
      const waitSeconds = Math.min(this.#waitTimeSeconds, Math.floor(remainingMs / 1000));
      let more: ReceivedMessage[];
      try {
        more = await this.#receive(Math.min(SQS_MAX_PER_CALL, batchSize - batch.length), waitSeconds);
      } catch (error) {
        // What was gathered is in flight already: invoke with it rather than lose it to the visibility timeout.
        this.#stats.receiveErrors += 1;
        this.#emit('pollerError', { functionName: this.functionName, operation: 'receive', error });
        break;
      }
      batch.push(...more);
      if (more.length === 0 && waitSeconds === 0) {
        await this.#pause(Math.min(remainingMs, 50), signal);
      }
    }
    return batch;
  }

  async #receive(maxNumberOfMessages: number, waitTimeSeconds: number): Promise<ReceivedMessage[]> {
    const { Messages = [] } = await this.#options.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: this.queueUrl,
        MaxNumberOfMessages: maxNumberOfMessages,
        WaitTimeSeconds: waitTimeSeconds,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    const received = Messages.filter(
      (message): message is ReceivedMessage => message.MessageId !== undefined && message.ReceiptHandle !== undefined,
    );
    this.#stats.messagesReceived += received.length;
    return received;
  }

  async #invoke(messages: readonly ReceivedMessage[], logStreamName: string): Promise<void> {
    const records = messages.map((message) => this.#toRecord(message));
    const timeoutMs = this.#options.function.timeoutSeconds * 1000;
    await this.#acquireSlot();
    let startedAt: number;
    let context: Context;
    let result: HandlerResult;
    try {
      // The deadline counts from the invocation, not from the receive: a wait for a slot is not the function's.
      startedAt = this.#clock();
      context = createLambdaContext({
        functionName: this.functionName,
        functionArn: this.#options.function.functionArn,
        memoryMb: this.#options.function.memoryMb,
        deadline: startedAt + timeoutMs,
        clock: this.#clock,
        logStreamName,
      });
      this.#stats.invocations += 1;
      this.#emit('invocationStart', {
        functionName: this.functionName,
        awsRequestId: context.awsRequestId,
        messageIds: records.map((record) => record.messageId),
        concurrency: this.#stats.inFlight,
      });
      result = await this.#run({ Records: records }, context, timeoutMs);
    } finally {
      this.#releaseSlot();
    }
    const settlement = this.#settle(result, records);
    const toDelete = records.filter((record) => settlement.deleteIds.has(record.messageId));
    const lost =
      toDelete.length > 0 && this.#options.loseDeletes?.(toDelete.map((record) => record.messageId)) === true;
    const deleted = lost ? new Set<string>() : await this.#delete(toDelete);

    this.#stats.messagesDeleted += deleted.size;
    if (settlement.outcome === 'partialFailure') {
      this.#stats.batchItemFailures += records.length - settlement.deleteIds.size;
    } else if (settlement.outcome === 'error' || settlement.outcome === 'invalidResponse') {
      this.#stats.errors += 1;
    } else if (settlement.outcome === 'timeout') {
      this.#stats.timeouts += 1;
    }
    this.#emit('invocationEnd', {
      functionName: this.functionName,
      awsRequestId: context.awsRequestId,
      outcome: settlement.outcome,
      records: records.length,
      deletedMessageIds: [...deleted],
      failedMessageIds: records.map((record) => record.messageId).filter((id) => !settlement.deleteIds.has(id)),
      durationMs: this.#clock() - startedAt,
      ...(settlement.error !== undefined && { error: settlement.error }),
    });
    this.#emit('stats', this.stats);
  }

  /** Runs the handler against its timeout; a handler still running at the deadline is abandoned. */
  async #run(event: SQSEvent, context: Context, timeoutMs: number): Promise<HandlerResult> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<HandlerResult>((resolve) => {
      timer = setTimeout(() => resolve({ kind: 'timeout' }), timeoutMs);
    });
    const ran = (async () => this.#options.handler(event, context))().then(
      (value): HandlerResult => ({ kind: 'returned', value }),
      (error: unknown): HandlerResult => ({ kind: 'threw', error }),
    );
    try {
      return await Promise.race([ran, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Lambda's rules for what an invocation result means for the batch. */
  #settle(result: HandlerResult, records: readonly SQSRecord[]): Settlement {
    const all = new Set(records.map((record) => record.messageId));
    if (result.kind === 'timeout') {
      return { outcome: 'timeout', deleteIds: new Set() };
    }
    if (result.kind === 'threw') {
      return { outcome: 'error', deleteIds: new Set(), error: result.error };
    }
    if (!this.#options.reportBatchItemFailures) {
      return { outcome: 'success', deleteIds: all };
    }
    const parsed = batchResponseSchema.safeParse(result.value);
    if (!parsed.success) {
      return {
        outcome: 'invalidResponse',
        deleteIds: new Set(),
        error: new Error(`invalid batch response: ${parsed.error.issues.map((issue) => issue.message).join('; ')}`),
      };
    }
    const failed = new Set((parsed.data?.batchItemFailures ?? []).map((failure) => failure.itemIdentifier));
    const unknown = [...failed].filter((id) => !all.has(id));
    if (unknown.length > 0) {
      return {
        outcome: 'invalidResponse',
        deleteIds: new Set(),
        error: new Error(`batchItemFailures names messages not in the batch: ${unknown.join(', ')}`),
      };
    }
    if (failed.size === 0) {
      return { outcome: 'success', deleteIds: all };
    }
    return { outcome: 'partialFailure', deleteIds: new Set([...all].filter((id) => !failed.has(id))) };
  }

  /** Deletes with DeleteMessageBatch, returning the ids actually deleted. */
  async #delete(records: readonly SQSRecord[]): Promise<Set<string>> {
    const deleted = new Set<string>();
    for (let start = 0; start < records.length; start += SQS_MAX_PER_CALL) {
      const chunk = records.slice(start, start + SQS_MAX_PER_CALL);
      try {
        const response = await this.#options.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: this.queueUrl,
            Entries: chunk.map((record, index) => ({ Id: String(index), ReceiptHandle: record.receiptHandle })),
          }),
        );
        for (const success of response.Successful ?? []) {
          const record = chunk[Number(success.Id)];
          if (record) {
            deleted.add(record.messageId);
          }
        }
        if (response.Failed && response.Failed.length > 0) {
          const reasons = response.Failed.map((failure) => `${failure.Code}: ${failure.Message}`).join('; ');
          this.#emit('pollerError', {
            functionName: this.functionName,
            operation: 'delete',
            error: new Error(`${response.Failed.length} messages not deleted (${reasons})`),
          });
        }
      } catch (error) {
        this.#emit('pollerError', { functionName: this.functionName, operation: 'delete', error });
      }
    }
    return deleted;
  }

  #toRecord(message: ReceivedMessage): SQSRecord {
    const attributes = message.Attributes ?? {};
    const now = String(this.#clock());
    return {
      messageId: message.MessageId,
      receiptHandle: message.ReceiptHandle,
      body: message.Body ?? '',
      attributes: {
        ...attributes,
        ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
        SentTimestamp: attributes.SentTimestamp ?? now,
        SenderId: attributes.SenderId ?? '',
        ApproximateFirstReceiveTimestamp: attributes.ApproximateFirstReceiveTimestamp ?? now,
      },
      messageAttributes: toLambdaMessageAttributes(message.MessageAttributes ?? {}),
      ...(message.MD5OfMessageAttributes !== undefined && { md5OfMessageAttributes: message.MD5OfMessageAttributes }),
      md5OfBody: message.MD5OfBody ?? '',
      eventSource: 'aws:sqs',
      eventSourceARN: this.queueArn,
      awsRegion: this.#options.region,
    };
  }

  async #pause(ms: number, signal: AbortSignal): Promise<void> {
    try {
      await sleep(ms, undefined, { signal });
    } catch {
      // Aborted by stop() or pause(): nothing to wait for any more.
    }
  }

  /** Emits without letting a throwing listener break the polling loop. */
  #emit<K extends keyof SqsEventSourcePollerEvents>(name: K, ...args: SqsEventSourcePollerEvents[K]): void {
    try {
      // The cast bridges EventEmitter's generic signature, which TypeScript cannot match against K here.
      (this.emit as (event: K, ...rest: SqsEventSourcePollerEvents[K]) => boolean).call(this, name, ...args);
    } catch (error) {
      process.emitWarning(`a ${name} listener of the ${this.functionName} poller threw: ${String(error)}`);
    }
  }
}

function assertBatchSize(batchSize: number): void {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
  }
}

/** SQS message attributes in the lower-camel shape Lambda puts in `SQSRecord.messageAttributes`. */
export function toLambdaMessageAttributes(attributes: Record<string, MessageAttributeValue>): SQSMessageAttributes {
  const converted: SQSMessageAttributes = {};
  for (const [name, value] of Object.entries(attributes)) {
    converted[name] = {
      ...(value.StringValue !== undefined && { stringValue: value.StringValue }),
      ...(value.BinaryValue !== undefined && { binaryValue: Buffer.from(value.BinaryValue).toString('base64') }),
      stringListValues: [],
      binaryListValues: [],
      dataType: value.DataType ?? 'String',
    };
  }
  return converted;
}
