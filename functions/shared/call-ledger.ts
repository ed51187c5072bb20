import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { histogramsOf, type SizeHistograms, sizeAttribute, sizeBucket } from './completion-sizes.ts';
import { dayExpiresAt, expiresAfter, setExpiry, TTL_ATTRIBUTE } from './retention.ts';
import type { ModelPrice, Stage } from './runtime-config.ts';
import { callKey, callPrefix, itemPartition, usageKey, usagePartition } from './table-keys.ts';

/**
 * The LLM call ledger: one entry per paid call, written the moment the response arrives and before anything
 * else can fail. Entries live in the item's partition (`pk = ITEM#<id>`, `sk = CALL#<stage>#<step>#<n>`), so
 * one query loads every call an item has paid for, and a retry reuses a stored response instead of paying
 * again. The per-day totals (`pk = USAGE#<yyyy-mm-dd>`, `sk = <stage>#<model>`) are added right after.
 */

export type CallOutcome = 'ok' | 'invalid-output';

export interface CallEntry {
  itemId: string;
  stage: Stage;
  /** The step within the stage, e.g. `knowledge`, `draft.0`, `review.0`. */
  step: string;
  /** Which of the stage's steps it is (`knowledge`, `draft`, `review`); absent on entries written before it was kept. */
  stepKind?: string;
  /** The `max_tokens` the call asked for (learned or configured); absent on entries written before it was kept. */
  maxTokens?: number;
  /** 0 for the first paid call of the step, 1 for the next (after an invalid output), ... */
  n: number;
  model: string;
  outcome: CallOutcome;
  /** The raw completion text, kept so a retry or an audit never needs the provider again. */
  content: string;
  finishReason: string;
  promptTokens: number;
  completionTokens: number;
  costNanoUsd: number;
  latencyMs: number;
  requestId?: string | undefined;
  at: string;
  /** The call repeats one a crashed invocation had started and may have been billed for. */
  rebilled?: boolean;
  /** Whether the call is counted in the day's totals; false between the ledger write and that count. */
  accounted?: boolean;
  /** Step-specific facts worth keeping with the call (e.g. the memory items a draft was given). */
  context?: Record<string, unknown> | undefined;
}

export interface UsageRow {
  day: string;
  stage: Stage;
  model: string;
  calls: number;
  promptTokens: number;
  completionTokens: number;
  costNanoUsd: number;
  /** Calls repeated after a crash between the response and its ledger write. */
  rebilledCalls?: number;
  /** Sum of the calls' latencies: with `calls`, their mean latency (rows written before it was kept lack it). */
  latencyMsTotal?: number;
  /** The completion sizes of the answers that ended by themselves, per step (completion-sizes.ts). */
  completionSizes?: SizeHistograms;
}

/**
 * Cost of a call in billionths of a dollar: prices are per million tokens, so a whole number of nano-dollars
 * per token for any price with up to three decimals, and sums stay exact.
 * @example costNanoUsd({ inputPerMillionUsd: 0.15, outputPerMillionUsd: 0.6 }, 1000, 200) // 270000
 */
export function costNanoUsd(price: ModelPrice, promptTokens: number, completionTokens: number): number {
  return Math.round(
    promptTokens * price.inputPerMillionUsd * 1000 + completionTokens * price.outputPerMillionUsd * 1000,
  );
}

/** Nano-dollars as dollars, for display. */
export const nanoToUsd = (nano: number): number => nano / 1e9;

/**
 * Given `retentionSeconds`, a ledger row expires that long after its call and a day's usage row that long after
 * the day (retention.ts); readers pass none.
 * @example
 * const ledger = new CallLedger(documentClient, 'StateTable', 90 * 86_400);
 * const calls = await ledger.list('sample-001');
 */
export class CallLedger {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #retentionSeconds: number | undefined;

  constructor(client: DynamoDBDocumentClient, tableName: string, retentionSeconds?: number) {
    this.#client = client;
    this.#tableName = tableName;
    this.#retentionSeconds = retentionSeconds;
  }

  /** Every paid call of the item, optionally of one stage, in step order. */
  async list(itemId: string, stage?: Stage): Promise<CallEntry[]> {
    const entries: CallEntry[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.#client.send(
        new QueryCommand({
          TableName: this.#tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': itemPartition(itemId), ':prefix': callPrefix(stage) },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const { pk: _pk, sk: _sk, [TTL_ATTRIBUTE]: _expiresAt, ...entry } of page.Items ?? [])
        entries.push(entry as CallEntry);
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return entries;
  }

  /**
   * Writes the entry; returns false when an entry with the same key exists already (a concurrent writer paid
   * for the same step: both calls are kept in the day totals by the caller, the first response wins).
   */
  async record(entry: CallEntry): Promise<boolean> {
    try {
      await this.#client.send(
        new PutCommand({
          TableName: this.#tableName,
          Item: {
            ...callKey(entry.itemId, entry.stage, entry.step, entry.n),
            ...entry,
            ...(this.#retentionSeconds !== undefined && {
              [TTL_ATTRIBUTE]: expiresAfter(Date.parse(entry.at), this.#retentionSeconds),
            }),
          },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /**
   * Claims the right to count the call in the day's totals: true for exactly one caller, the one that flipped
   * `accounted` from false. Entries written before this flag existed count as accounted.
   */
  async markAccounted(entry: CallEntry): Promise<boolean> {
    try {
      await this.#client.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: callKey(entry.itemId, entry.stage, entry.step, entry.n),
          UpdateExpression: 'SET accounted = :true',
          ConditionExpression: 'accounted = :false',
          ExpressionAttributeValues: { ':true': true, ':false': false },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Adds one call (its tokens, cost and latency) to the day × stage × model totals, in one write. */
  async addUsage(entry: CallEntry): Promise<void> {
    const day = entry.at.slice(0, 10);
    const expiry = setExpiry(
      this.#retentionSeconds === undefined ? undefined : dayExpiresAt(day, this.#retentionSeconds),
    );
    // An answer that ended by itself says how long the step's answers are; one cut at max_tokens says nothing.
    const sized = entry.stepKind !== undefined && entry.finishReason === 'stop';
    await this.#client.send(
      new UpdateCommand({
        TableName: this.#tableName,
        Key: usageKey(day, entry.stage, entry.model),
        UpdateExpression: `SET #stage = :stage, #model = :model, #day = :day${expiry.clause} ADD calls :one, promptTokens :p, completionTokens :c, costNanoUsd :cost, rebilledCalls :rebilled, latencyMsTotal :latency${sized ? ', #size :one' : ''}`,
        ExpressionAttributeNames: {
          '#stage': 'stage',
          '#model': 'model',
          '#day': 'day',
          ...expiry.names,
          ...(sized && { '#size': sizeAttribute(entry.stepKind ?? '', sizeBucket(entry.completionTokens)) }),
        },
        ExpressionAttributeValues: {
          ...expiry.values,
          ':stage': entry.stage,
          ':model': entry.model,
          ':day': day,
          ':one': 1,
          ':p': entry.promptTokens,
          ':c': entry.completionTokens,
          ':cost': entry.costNanoUsd,
          ':rebilled': entry.rebilled ? 1 : 0,
          ':latency': entry.latencyMs,
        },
      }),
    );
  }

  /** The day × stage × model totals of one UTC day (`yyyy-mm-dd`). */
  async usageOfDay(day: string): Promise<UsageRow[]> {
    const { Items } = await this.#client.send(
      new QueryCommand({
        TableName: this.#tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': usagePartition(day) },
        ConsistentRead: true,
      }),
    );
    return (Items ?? []).map(({ pk: _pk, sk: _sk, [TTL_ATTRIBUTE]: _expiresAt, ...row }) => {
      const completionSizes = histogramsOf(row);
      const totals = Object.fromEntries(Object.entries(row).filter(([name]) => !name.startsWith('sizes#')));
      return {
        ...(totals as unknown as UsageRow),
        ...(Object.keys(completionSizes).length > 0 && { completionSizes }),
      };
    });
  }
}

/** Sums calls into totals, e.g. for an item's usage per stage. */
export function sumUsage(calls: readonly Pick<CallEntry, 'promptTokens' | 'completionTokens' | 'costNanoUsd'>[]): {
  calls: number;
  promptTokens: number;
  completionTokens: number;
  costNanoUsd: number;
} {
  return calls.reduce(
    (total: { calls: number; promptTokens: number; completionTokens: number; costNanoUsd: number }, call) => ({
      calls: total.calls + 1,
      promptTokens: total.promptTokens + call.promptTokens,
      completionTokens: total.completionTokens + call.completionTokens,
      costNanoUsd: total.costNanoUsd + call.costNanoUsd,
    }),
    { calls: 0, promptTokens: 0, completionTokens: 0, costNanoUsd: 0 },
  );
}
