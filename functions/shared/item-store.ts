import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type FailureKind, StateConflictError } from './errors.ts';
import { DEAD_LETTER, DISCARDED, PUBLISHED } from './pipeline.ts';
import { expiresAfter, TTL_ATTRIBUTE } from './retention.ts';
import type { Stage } from './runtime-config.ts';
import type { IntakeItem, Knowledge } from './schemas.ts';
import { itemKey } from './table-keys.ts';

/**
 * The item state machine in the state table. One record per item (`pk = ITEM#<id>`, `sk = ITEM`); every write
 * after creation is a single-item update conditioned on the version the writer read, so two invocations can
 * never both move an item, and a lease taken over after a crash makes the old holder's writes fail.
 */

/**
 * An item's state: RECEIVED, a stage's working or done state, DEAD_LETTER or DISCARDED. The pipeline
 * (functions/shared/pipeline.ts) says which there are; each stage function knows its own from its runtime config.
 * DEAD_LETTER is left only through a redrive; DISCARDED (a dead letter an operator gave up on, with who and why)
 * is final: no message moves it again.
 */
export type ItemState = string;

export interface ErrorRecord {
  errorClass: string;
  message: string;
  stage: Stage;
  attempts: number;
  at: string;
  /** How the retry policy classed the failure; absent on records written before it was kept. */
  kind?: FailureKind;
}

/**
 * A dead letter decided for an item: the error, and the id its DLQ message carries (message attribute
 * `deadLetterId`). Only a message carrying the item's current id is its redrive; the claim that resumes the item
 * removes the record, so a second copy of the same dead letter finds nothing to match.
 */
export interface DeadLetterRecord extends ErrorRecord {
  /** Absent on dead letters recorded before dead letters carried an id: any message for such an item redrives it. */
  deadLetterId?: string;
}

/** An operator's decision to give up on a dead letter (`sluice discard`). */
export interface DiscardRecord {
  /** Who discarded it: `--by`, else the operating-system user who ran the command. */
  by: string;
  reason: string;
  at: string;
}

export interface UsageTotals {
  calls: number;
  promptTokens: number;
  completionTokens: number;
  costNanoUsd: number;
}

export interface Publication {
  publicationId: string;
  title: string;
  revision: number;
  approved: boolean;
  relatedItemIds: string[];
  publishedAt: string;
}

export interface ItemRecord {
  itemId: string;
  state: ItemState;
  version: number;
  createdAt: string;
  updatedAt: string;
  /** The validated intake item; absent for items that failed validation (then `rawInput` holds the body). */
  input?: IntakeItem;
  rawInput?: string;
  knowledge?: Knowledge;
  leaseOwner?: string;
  leaseUntil?: number;
  attempts: Record<Stage, number>;
  lastError?: ErrorRecord;
  /** A dead letter was decided and is being carried out (DLQ send, then the DEAD_LETTER state). */
  deadLettering?: DeadLetterRecord;
  deadLetter?: DeadLetterRecord;
  /** Set when the item was discarded (state DISCARDED); its `deadLetter` is kept, to say what it died of. */
  discarded?: DiscardRecord;
  history: { state: ItemState; at: string }[];
  /** Draft stage: the revision being drafted or reviewed. */
  revision?: number;
  /** Draft stage: how many times the item was drafted again after publication (re-enrichment); 0 or absent at first. */
  generation?: number;
  degraded?: string[];
  /**
   * Draft stage: the memory lookup's answer for a generation, kept by a delivery that handed the item back to wait
   * before its first draft call, so the next delivery drafts from it without looking again.
   */
  relatedItems?: { generation: number; related: { itemId: string; title: string; summary: string }[] };
  /** NO_HISTORY while the item, published without history, waits to be drafted again (degraded-items.ts). */
  awaitingHistory?: string;
  publication?: Publication;
  /** The LLM step (`<stage>#<step>`) an invocation started and has not yet written to the ledger. */
  pendingCall?: string;
  /** When the item started waiting (rate limit, breaker, budget) in its current stage; cleared on progress. */
  deferredSince?: number;
  /** How many times the item was handed back to wait, over its whole life. */
  deferrals?: number;
  usage?: Partial<Record<Stage, UsageTotals>>;
  /** When DynamoDB's TTL may delete the record (epoch seconds): set while the item is settled (retention.ts). */
  expiresAt?: number;
}

/** Tokens the item spent in every stage but this one: what an earlier stage took from its token budget. */
export function tokensOfOtherStages(item: ItemRecord, stage: Stage): number {
  return Object.entries(item.usage ?? {})
    .filter(([name]) => name !== stage)
    .reduce((sum, [, usage]) => sum + (usage?.promptTokens ?? 0) + (usage?.completionTokens ?? 0), 0);
}

/** The states an item is done in until someone acts: the ones it expires in (functions/shared/retention.ts). */
const SETTLED: readonly ItemState[] = [PUBLISHED, DEAD_LETTER, DISCARDED];

/** Changes to apply to an item in one conditional write. */
export interface ItemChange {
  state?: ItemState;
  set?: Partial<Omit<ItemRecord, 'itemId' | 'state' | 'version' | 'history' | 'updatedAt' | 'createdAt'>>;
  remove?: (keyof ItemRecord)[];
}

/**
 * Reads and writes item records. Given `retentionSeconds`, an item entering a settled state gets its expiry
 * and one leaving it loses it; without, a write leaves the expiry as it is (an operator's discard of a dead
 * letter keeps the dead letter's).
 * @example
 * const store = new ItemStore(documentClient, 'StateTable', () => Date.now(), 90 * 86_400);
 * const item = await store.get('sample-001');
 */
export class ItemStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #now: () => number;
  readonly #retentionSeconds: number | undefined;

  constructor(client: DynamoDBDocumentClient, tableName: string, now: () => number, retentionSeconds?: number) {
    this.#client = client;
    this.#tableName = tableName;
    this.#now = now;
    this.#retentionSeconds = retentionSeconds;
  }

  /** The expiry an item entering `state` at `at` gets: a time when it settles, `null` when it goes back to work. */
  #expiryIn(state: ItemState, at: number): number | null | undefined {
    if (this.#retentionSeconds === undefined) return undefined;
    return SETTLED.includes(state) ? expiresAfter(at, this.#retentionSeconds) : null;
  }

  /** A strongly consistent read of the item, or undefined when it was never accepted. */
  async get(itemId: string): Promise<ItemRecord | undefined> {
    const { Item } = await this.#client.send(
      new GetCommand({ TableName: this.#tableName, Key: itemKey(itemId), ConsistentRead: true }),
    );
    return Item === undefined ? undefined : toRecord(Item);
  }

  /**
   * Accepts a new item straight into `state` (recording RECEIVED first), or returns undefined when an item with
   * this id already exists (a duplicate delivery, a redrive, or an id reused by a producer).
   */
  async create(
    itemId: string,
    init: { state: ItemState; input?: IntakeItem; rawInput?: string } & ItemChange['set'],
  ): Promise<ItemRecord | undefined> {
    const now = this.#now();
    const at = new Date(now).toISOString();
    const { state, ...rest } = init;
    const expiresAt = this.#expiryIn(state, now);
    const record: ItemRecord = {
      ...rest,
      itemId,
      state,
      version: 1,
      createdAt: at,
      updatedAt: at,
      attempts: { extract: 0, draft: 0, ...rest.attempts },
      ...(typeof expiresAt === 'number' && { [TTL_ATTRIBUTE]: expiresAt }),
      history:
        state === 'RECEIVED'
          ? [{ state, at }]
          : [
              { state: 'RECEIVED', at },
              { state, at },
            ],
    };
    try {
      await this.#client.send(
        new PutCommand({
          TableName: this.#tableName,
          Item: { ...itemKey(itemId), ...record },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return record;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  /**
   * Applies `change` if the item is still at `item.version`, bumping the version and appending a history entry
   * when the state changes. Throws StateConflictError when another writer got there first.
   */
  async update(item: ItemRecord, change: ItemChange): Promise<ItemRecord> {
    const now = this.#now();
    const at = new Date(now).toISOString();
    const names: Record<string, string> = { '#version': 'version', '#updatedAt': 'updatedAt' };
    const values: Record<string, unknown> = { ':expected': item.version, ':next': item.version + 1, ':at': at };
    const sets = ['#version = :next', '#updatedAt = :at'];
    for (const [index, [key, value]] of Object.entries(change.set ?? {}).entries()) {
      if (value === undefined) continue;
      names[`#s${index}`] = key;
      values[`:s${index}`] = value;
      sets.push(`#s${index} = :s${index}`);
    }
    if (change.state !== undefined && change.state !== item.state) {
      names['#state'] = 'state';
      names['#history'] = 'history';
      values[':state'] = change.state;
      values[':transition'] = [{ state: change.state, at }];
      sets.push('#state = :state', '#history = list_append(#history, :transition)');
    }
    const removes = (change.remove ?? []).map((key, index) => {
      names[`#r${index}`] = key;
      return `#r${index}`;
    });
    const expiresAt =
      change.state === undefined || change.state === item.state ? undefined : this.#expiryIn(change.state, now);
    if (expiresAt !== undefined) {
      names['#expiresAt'] = TTL_ATTRIBUTE;
      if (expiresAt === null) removes.push('#expiresAt');
      else {
        values[':expiresAt'] = expiresAt;
        sets.push('#expiresAt = :expiresAt');
      }
    }
    try {
      const { Attributes } = await this.#client.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: itemKey(item.itemId),
          UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
          ConditionExpression: '#version = :expected',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      if (Attributes === undefined) throw new Error(`update of item ${item.itemId} returned no attributes`);
      return toRecord(Attributes);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) {
        throw new StateConflictError(`item ${item.itemId} changed since version ${item.version}`, { cause: error });
      }
      throw error;
    }
  }
}

/** Whether another invocation holds a lease on the item right now. */
export function leaseHeldByOther(item: ItemRecord, owner: string, now: number): boolean {
  return item.leaseOwner !== undefined && item.leaseOwner !== owner && (item.leaseUntil ?? 0) > now;
}

function toRecord(raw: Record<string, unknown>): ItemRecord {
  const { pk: _pk, sk: _sk, ...rest } = raw;
  // The table is written only by this module, so its shape is trusted here.
  return rest as unknown as ItemRecord;
}
