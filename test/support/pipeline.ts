import { randomUUID } from 'node:crypto';
import { type Message, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { type DevRuntime, type DevRuntimeOptions, startDevRuntime } from '#local/dev-runtime.ts';
import { createLambdaContext } from '#local/lambda-context.ts';
import { LocalMetrics } from '#local/local-metrics.ts';
import { toLambdaMessageAttributes } from '#local/poller.ts';
import type { CallEntry } from '#shared/call-ledger.ts';
import { CallLedger } from '#shared/call-ledger.ts';
import type { ItemRecord } from '#shared/item-store.ts';
import type { Completion, CompletionRequest, LlmClient } from '#shared/llm-client.ts';
import { OpenAiLlmClient } from '#shared/llm-client.ts';
import { itemKey } from '#shared/table-keys.ts';

/**
 * A whole pipeline on the emulators for tests: the same composition root as `sluice dev`, with short function
 * timeouts so redeliveries come back quickly, and an LLM client that counts the calls it passes on to the
 * simulator (and can be told to fail).
 */

/** Test settings: small timeouts so visibility timeouts (6 × function timeout) stay short. */
export const TEST_CONFIG = {
  stages: {
    extract: { timeoutSeconds: 10, reservedConcurrency: 4, maxConcurrency: 4, batchSize: 5 },
    draft: { timeoutSeconds: 10, reservedConcurrency: 4, maxConcurrency: 4, batchSize: 2 },
  },
  // Backoff in milliseconds rather than seconds, so in-process retries cost the tests nothing.
  retry: { baseDelayMs: 5, maxDelayMs: 20, maxInProcessWaitMs: 2000 },
};

export interface RecordedCall {
  model: string;
  format: string;
  itemId: string;
}

/** Wraps the real OpenAI client: records every call that reaches the provider; `failNext` injects failures. */
export class CountingLlmClient implements LlmClient {
  readonly calls: RecordedCall[] = [];
  #inner: LlmClient | undefined;
  #failures: ((request: CompletionRequest) => Error | Partial<Completion> | undefined)[] = [];

  connect(baseUrl: string): void {
    this.#inner = new OpenAiLlmClient({ apiKey: async () => 'test-key', baseUrl });
  }

  /**
   * The next call for which `when` returns something gets it instead of the provider's answer: an error is
   * thrown; a partial completion (e.g. `{ content: 'not json' }`) is answered, as a paid call with usage.
   */
  failWhen(when: (request: CompletionRequest) => Error | Partial<Completion> | undefined): void {
    this.#failures.push(when);
  }

  async complete(request: CompletionRequest): Promise<Completion> {
    for (const [index, rule] of this.#failures.entries()) {
      const outcome = rule(request);
      if (outcome === undefined) continue;
      this.#failures.splice(index, 1);
      if (outcome instanceof Error) throw outcome;
      this.calls.push({ model: request.model, format: request.format.name, itemId: request.itemId });
      return {
        content: '',
        finishReason: 'stop',
        model: request.model,
        promptTokens: 100,
        completionTokens: 10,
        latencyMs: 1,
        ...outcome,
      };
    }
    if (this.#inner === undefined) throw new Error('CountingLlmClient is not connected');
    this.calls.push({ model: request.model, format: request.format.name, itemId: request.itemId });
    return this.#inner.complete(request);
  }

  callsFor(itemId: string): RecordedCall[] {
    return this.calls.filter((call) => call.itemId === itemId);
  }
}

export interface TestPipeline {
  dev: DevRuntime;
  llm: CountingLlmClient;
  /** The functions' EMF metrics, read back as CloudWatch would. */
  metrics: LocalMetrics;
  outputs: Readonly<Record<string, string>>;
  item(itemId: string): Promise<ItemRecord | undefined>;
  ledger(itemId: string): Promise<CallEntry[]>;
  /** Waits until `predicate` holds for the item (polling the table), or fails after `timeoutMs`. */
  waitForItem(itemId: string, predicate: (item: ItemRecord) => boolean, timeoutMs?: number): Promise<ItemRecord>;
  send(queueOutput: string, body: string): Promise<void>;
  receiveAll(queueOutput: string, expected: number, timeoutMs?: number): Promise<Message[]>;
  /**
   * Invokes a stage handler directly with the given messages, as the event source would: bodies, or messages
   * received from a queue (body and message attributes, e.g. a dead letter to redrive).
   */
  invoke(stage: 'extract' | 'draft', messages: (string | Message)[]): Promise<SQSBatchResponse>;
  stop(): Promise<void>;
}

export async function startTestPipeline(options: DevRuntimeOptions = {}): Promise<TestPipeline> {
  const llm = new CountingLlmClient();
  const handlers = new Map<string, (event: SQSEvent, context: Context) => Promise<unknown>>();
  const metrics = new LocalMetrics();
  const dev = await startDevRuntime({
    emf: metrics.sink,
    ...options,
    config: { ...TEST_CONFIG, ...options.config },
    llm,
    logLevel: options.logLevel ?? 'SILENT',
    onHandler: (stage, handler) => handlers.set(stage, handler),
  });
  if (dev.simulator === undefined) throw new Error('the test pipeline needs the simulator');
  llm.connect(dev.simulator.url);
  const table = dev.outputs.StateTableName ?? '';
  const ledger = new CallLedger(dev.dynamo, table);

  const item = async (itemId: string) => {
    const { Item } = await dev.dynamo.send(
      new GetCommand({ TableName: table, Key: itemKey(itemId), ConsistentRead: true }),
    );
    return Item as ItemRecord | undefined;
  };

  return {
    dev,
    llm,
    metrics,
    outputs: dev.outputs,
    item,
    ledger: (itemId) => ledger.list(itemId),
    waitForItem: async (itemId, predicate, timeoutMs = 30_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const current = await item(itemId);
        if (current && predicate(current)) return current;
        if (Date.now() > deadline) {
          throw new Error(
            `item ${itemId} did not reach the expected state in ${timeoutMs} ms: ${JSON.stringify(current?.state)}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    send: async (queueOutput, body) => {
      await dev.sqs.send(new SendMessageCommand({ QueueUrl: dev.outputs[queueOutput], MessageBody: body }));
    },
    receiveAll: async (queueOutput, expected, timeoutMs = 30_000) => {
      const messages: Message[] = [];
      const deadline = Date.now() + timeoutMs;
      while (messages.length < expected && Date.now() < deadline) {
        const { Messages = [] } = await dev.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: dev.outputs[queueOutput],
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 1,
            MessageAttributeNames: ['All'],
          }),
        );
        messages.push(...Messages);
      }
      return messages;
    },
    invoke: async (stage, messages) => {
      const handler = handlers.get(stage);
      if (handler === undefined) throw new Error(`no ${stage} handler was built`);
      const event: SQSEvent = {
        Records: messages.map((message) => ({
          messageId: randomUUID(),
          receiptHandle: randomUUID(),
          body: typeof message === 'string' ? message : (message.Body ?? ''),
          attributes: {
            ApproximateReceiveCount: '1',
            SentTimestamp: String(Date.now()),
            SenderId: 'test',
            ApproximateFirstReceiveTimestamp: String(Date.now()),
          },
          messageAttributes:
            typeof message === 'string' ? {} : toLambdaMessageAttributes(message.MessageAttributes ?? {}),
          md5OfBody: '',
          eventSource: 'aws:sqs',
          eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:test',
          awsRegion: 'us-east-1',
        })),
      };
      const context = createLambdaContext({
        functionName: stage,
        functionArn: `arn:aws:lambda:us-east-1:000000000000:function:${stage}`,
        memoryMb: 512,
        deadline: Date.now() + 10_000,
      });
      return (await handler(event, context)) as SQSBatchResponse;
    },
    stop: () => dev.stop(),
  };
}
