import { BatchWriteCommand, type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { MemoryUnavailableError } from './errors.ts';
import type { RelatedItem } from './prompts.ts';

/**
 * The memory of past published items, looked up by topic and entity so a draft can connect to what came
 * before. One row per (key, item): `pk = TOPIC#<topic>` or `ENTITY#<name>`, `sk = <publishedAt>#<itemId>`, so a
 * query per key returns the newest related items first. Lookups have their own short deadline: the memory is
 * a nice-to-have and must never hold a draft back.
 */

export interface MemoryEntry extends RelatedItem {
  publishedAt: string;
  topics: string[];
  entities: string[];
}

/** Lookup keys are normalised so that "OpenAI" and "openai " meet. */
const normalise = (text: string) => text.trim().toLowerCase().replace(/\s+/g, ' ');
const keysOf = (topics: readonly string[], entities: readonly string[]) => [
  ...new Set([...topics.map((t) => `TOPIC#${normalise(t)}`), ...entities.map((e) => `ENTITY#${normalise(e)}`)]),
];

/** At most this many keys are queried per lookup, topics first: enough to find relatives, cheap enough to be fast. */
const MAX_LOOKUP_KEYS = 4;

/**
 * @example
 * const memory = new MemoryStore(documentClient, 'MemoryTable');
 * const related = await memory.findRelated({ topics: ['ai'], entities: [], excludeItemId: 'x', limit: 5, timeoutMs: 1500 });
 */
export class MemoryStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;

  constructor(client: DynamoDBDocumentClient, tableName: string) {
    this.#client = client;
    this.#tableName = tableName;
  }

  /**
   * The newest items sharing a topic or entity, most shared keys first. Throws MemoryUnavailableError on any
   * failure or when `timeoutMs` passes.
   */
  async findRelated(query: {
    topics: readonly string[];
    entities: readonly string[];
    excludeItemId: string;
    limit: number;
    timeoutMs: number;
    signal?: AbortSignal | undefined;
  }): Promise<RelatedItem[]> {
    if (query.limit === 0) return [];
    const signals = [AbortSignal.timeout(query.timeoutMs), ...(query.signal ? [query.signal] : [])];
    const abortSignal = AbortSignal.any(signals);
    const keys = keysOf(query.topics, query.entities).slice(0, MAX_LOOKUP_KEYS);
    try {
      const pages = await Promise.all(
        keys.map((pk) =>
          this.#client.send(
            new QueryCommand({
              TableName: this.#tableName,
              KeyConditionExpression: 'pk = :pk',
              ExpressionAttributeValues: { ':pk': pk },
              ScanIndexForward: false,
              Limit: query.limit + 1,
            }),
            { abortSignal },
          ),
        ),
      );
      const scores = new Map<string, { item: RelatedItem; hits: number; publishedAt: string }>();
      for (const page of pages) {
        for (const row of page.Items ?? []) {
          const entry = row as MemoryEntry;
          if (entry.itemId === query.excludeItemId) continue;
          const seen = scores.get(entry.itemId);
          if (seen) seen.hits += 1;
          else
            scores.set(entry.itemId, {
              item: { itemId: entry.itemId, title: entry.title, summary: entry.summary },
              hits: 1,
              publishedAt: entry.publishedAt,
            });
        }
      }
      return [...scores.values()]
        .sort((a, b) => b.hits - a.hits || b.publishedAt.localeCompare(a.publishedAt))
        .slice(0, query.limit)
        .map((score) => score.item);
    } catch (error) {
      const reason = abortSignal.aborted ? `no answer within ${query.timeoutMs} ms` : describe(error);
      throw new MemoryUnavailableError(`memory lookup failed: ${reason}`, { cause: error });
    }
  }

  /** Remembers a published item under each of its topics and entities (idempotent: same keys, same rows). */
  async remember(entry: MemoryEntry): Promise<void> {
    const keys = keysOf(entry.topics, entry.entities);
    for (let start = 0; start < keys.length; start += 25) {
      let requests: Record<string, { PutRequest: { Item: Record<string, unknown> } }[]> = {
        [this.#tableName]: keys.slice(start, start + 25).map((pk) => ({
          PutRequest: { Item: { pk, sk: `${entry.publishedAt}#${entry.itemId}`, ...entry } },
        })),
      };
      // BatchWrite may leave items unprocessed under throttling; send those again a bounded number of times.
      for (let round = 0; round < 5 && Object.keys(requests).length > 0; round += 1) {
        const { UnprocessedItems } = await this.#client.send(new BatchWriteCommand({ RequestItems: requests }));
        requests = (UnprocessedItems ?? {}) as typeof requests;
      }
      if (Object.keys(requests).length > 0) throw new MemoryUnavailableError('memory write left items unprocessed');
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}
