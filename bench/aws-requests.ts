import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { SHIPPED_STAGES, type ShippedStage as Stage } from '#functions/pipeline.ts';

/**
 * Counts the billable AWS requests the functions and their event sources make, by stage, service, operation
 * and state-table record kind, with DynamoDB's consumed capacity units — through an SDK middleware on the very
 * clients the handlers use, so the figures include every limiter, breaker, budget and ledger write.
 */

export type Service = 'sqs' | 'dynamodb';

export interface RequestTally {
  stage: Stage;
  service: Service;
  operation: string;
  /** State-table record kind (`ITEM`, `CALL`, `LIMIT`, `BUDGET`, `USAGE`, `BREAKER`, `MEMORY`), or a queue role. */
  target: string;
  requests: number;
  /** DynamoDB read and write capacity units as the emulator reports them (on-demand request units). */
  readUnits: number;
  writeUnits: number;
  /** Receives that returned no message (idle long polls), counted apart from the others. */
  empty: number;
}

const READ_OPERATIONS = new Set(['GetItem', 'Query', 'Scan', 'BatchGetItem', 'TransactGetItems']);
const CAPACITY_OPERATIONS = new Set([
  'GetItem',
  'PutItem',
  'UpdateItem',
  'DeleteItem',
  'Query',
  'Scan',
  'BatchGetItem',
  'BatchWriteItem',
]);

interface Middleware {
  middlewareStack: {
    add(
      middleware: (
        next: (args: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown> }>,
        context: { commandName?: string },
      ) => (args: { input: Record<string, unknown> }) => Promise<{ output: Record<string, unknown> }>,
      options: { step: 'initialize' | 'serialize' | 'build' | 'finalizeRequest' | 'deserialize'; name: string },
    ): void;
  };
}

/**
 * @example
 * const counter = new RequestCounter((url) => (url === intakeUrl ? 'extract' : 'draft'));
 * await startDevRuntime({ instrument: (client, owner) => counter.instrument(client, owner) });
 */
export class RequestCounter {
  readonly #tallies = new Map<string, RequestTally>();
  readonly #stageOfQueue: (queueUrl: string) => Stage | undefined;
  readonly #queueRole: (queueUrl: string) => string;
  readonly #memoryTable: () => string;
  #counting = true;

  /**
   * @param options.stageOfQueue whose an event source's request is, by the queue it polls
   * @param options.queueRole a short name of a queue for the breakdown (`intake`, `draft DLQ`, ...)
   * @param options.memoryTable the memory table's name, once known (its requests are counted as `MEMORY`)
   */
  constructor(options: {
    stageOfQueue: (queueUrl: string) => Stage | undefined;
    queueRole: (queueUrl: string) => string;
    memoryTable: () => string;
  }) {
    this.#stageOfQueue = options.stageOfQueue;
    this.#queueRole = options.queueRole;
    this.#memoryTable = options.memoryTable;
  }

  /** Stops or resumes counting (e.g. while a run is checked from outside with other clients). */
  set counting(on: boolean) {
    this.#counting = on;
  }

  /** `owner` is a stage of the runtime's pipeline or `eventSource`; a stage outside the shipped two is not counted. */
  instrument(client: SQSClient | DynamoDBClient, owner: string): void {
    const service: Service = isDynamo(client) ? 'dynamodb' : 'sqs';
    (client as unknown as Middleware).middlewareStack.add(
      (next, context) => async (args) => {
        const operation = context.commandName?.replace(/Command$/, '') ?? 'unknown';
        const input = args.input;
        const stage = owner === 'eventSource' ? this.#stageOfQueue(String(input.QueueUrl ?? '')) : shippedStage(owner);
        if (!this.#counting || stage === undefined) return next(args);
        if (service === 'dynamodb' && CAPACITY_OPERATIONS.has(operation)) input.ReturnConsumedCapacity = 'TOTAL';
        const target =
          service === 'sqs'
            ? this.#queueRole(String(input.QueueUrl ?? ''))
            : input.TableName === this.#memoryTable() || isMemoryBatch(input, this.#memoryTable())
              ? 'MEMORY'
              : recordKind(input);
        try {
          const result = await next(args);
          const units = capacityOf(result.output.ConsumedCapacity);
          const empty =
            operation === 'ReceiveMessage' &&
            !(Array.isArray(result.output.Messages) && result.output.Messages.length > 0);
          this.#add({ stage, service, operation, target }, units, empty);
          return result;
        } catch (error) {
          // A failed conditional write is billed as a write; anything else that failed is still one request.
          const units = operation === 'UpdateItem' || operation === 'PutItem' ? 1 : 0;
          this.#add({ stage, service, operation, target }, READ_OPERATIONS.has(operation) ? 0 : units, false);
          throw error;
        }
      },
      { step: 'initialize', name: 'sluiceBenchRequestCounter' },
    );
  }

  #add(key: Omit<RequestTally, 'requests' | 'readUnits' | 'writeUnits' | 'empty'>, units: number, empty: boolean) {
    const id = `${key.stage}|${key.service}|${key.operation}|${key.target}`;
    let tally = this.#tallies.get(id);
    if (tally === undefined) {
      tally = { ...key, requests: 0, readUnits: 0, writeUnits: 0, empty: 0 };
      this.#tallies.set(id, tally);
    }
    if (empty) tally.empty += 1;
    else tally.requests += 1;
    if (READ_OPERATIONS.has(key.operation)) tally.readUnits += units;
    else tally.writeUnits += units;
  }

  tallies(): RequestTally[] {
    return [...this.#tallies.values()].map((tally) => ({ ...tally }));
  }

  reset(): void {
    this.#tallies.clear();
  }
}

function isDynamo(client: SQSClient | DynamoDBClient): client is DynamoDBClient {
  return client.constructor.name.startsWith('DynamoDB');
}

function isMemoryBatch(input: Record<string, unknown>, memoryTable: string): boolean {
  const requests = input.RequestItems;
  return typeof requests === 'object' && requests !== null && memoryTable in requests;
}

/** The kind of state-table record a request touches, from its key (marshalled or not). */
function recordKind(input: Record<string, unknown>): string {
  const key = (input.Key ?? input.Item) as Record<string, unknown> | undefined;
  if (key === undefined) return typeof input.IndexName === 'string' ? `index ${input.IndexName}` : 'query';
  const pk = plain(key.pk);
  const sk = plain(key.sk);
  if (pk === undefined) return 'other';
  const kind = pk.split('#')[0] ?? pk;
  return kind === 'ITEM' && sk !== undefined && sk !== 'ITEM' ? (sk.split('#')[0] ?? sk) : kind;
}

function plain(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && 'S' in value && typeof value.S === 'string') return value.S;
  return undefined;
}

function capacityOf(consumed: unknown): number {
  if (Array.isArray(consumed)) return consumed.reduce((sum: number, entry) => sum + capacityOf(entry), 0);
  if (typeof consumed === 'object' && consumed !== null && 'CapacityUnits' in consumed) {
    return Number(consumed.CapacityUnits) || 0;
  }
  return 0;
}

function shippedStage(name: string): Stage | undefined {
  return SHIPPED_STAGES.find((stage) => stage === name);
}
