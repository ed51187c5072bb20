import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DeleteItemCommand,
  type DynamoDBClient,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import type { LocalTable } from './resources.ts';

/**
 * DynamoDB's Time to Live, which dynalite lacks: a sweep deletes every item whose TTL attribute is a Number of epoch
 * seconds in the past. As on AWS, an attribute that is not a Number, or one more than five years in the past, is
 * ignored; deletion happens some time after the expiry (here a minute after start, then every `intervalMs`), not at once,
 * and an item written again between the sweep's read and its delete (its expiry removed or moved) is kept. The
 * sweep reads the table a page at a time, so the runtime's other work goes on between pages.
 */

/** AWS deletes nothing whose expiry is more than five years old (the attribute is taken for some other time). */
const IGNORED_AFTER_SECONDS = 5 * 365 * 86_400;
const PAGE = 500;
/** An hour: AWS deletes expired items within days; locally an hourly look is as good and costs next to nothing. */
const INTERVAL_MS = 3_600_000;
const FIRST_SWEEP_MS = 60_000;

export interface LocalTimeToLiveOptions {
  readonly dynamodb: DynamoDBClient;
  /** The tables whose template enables TTL. */
  readonly tables: readonly LocalTable[];
  /** @default Date.now */
  readonly now?: () => number;
  /** @default 3600000 */
  readonly intervalMs?: number;
}

/** The expiry sweep of the local tables. */
export class LocalTimeToLive {
  readonly #options: LocalTimeToLiveOptions;
  #first: NodeJS.Timeout | undefined;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<number> | undefined;

  constructor(options: LocalTimeToLiveOptions) {
    this.#options = options;
  }

  /**
   * Sweeps a minute after start (off the start's path: a sweep reads the whole table), then every interval, until
   * stopped.
   */
  start(): void {
    if (this.#first !== undefined || this.#options.tables.length === 0) return;
    const tick = () => {
      // A failed sweep (the emulator stopping under it) is tried again at the next tick.
      this.sweep().catch(() => undefined);
    };
    this.#first = setTimeout(() => {
      tick();
      this.#timer = setInterval(tick, this.#options.intervalMs ?? INTERVAL_MS);
      this.#timer.unref();
    }, FIRST_SWEEP_MS);
    this.#first.unref();
  }

  /** Stops the timers and waits for a sweep under way. */
  async stop(): Promise<void> {
    clearTimeout(this.#first);
    this.#first = undefined;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#sweeping?.catch(() => undefined);
  }

  /** Deletes what has expired in every table; resolves with how many items were deleted. One sweep at a time. */
  sweep(): Promise<number> {
    this.#sweeping ??= this.#sweepAll().finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  async #sweepAll(): Promise<number> {
    let deleted = 0;
    for (const table of this.#options.tables) {
      if (table.timeToLiveAttribute !== undefined) deleted += await this.#sweepTable(table, table.timeToLiveAttribute);
    }
    return deleted;
  }

  async #sweepTable(table: LocalTable, attribute: string): Promise<number> {
    const { dynamodb } = this.#options;
    const nowSeconds = Math.floor((this.#options.now ?? Date.now)() / 1000);
    const expired = {
      ConditionExpression: '#ttl < :now AND #ttl > :ignored',
      ExpressionAttributeNames: { '#ttl': attribute },
      ExpressionAttributeValues: {
        ':now': { N: String(nowSeconds) },
        ':ignored': { N: String(nowSeconds - IGNORED_AFTER_SECONDS) },
      },
    };
    let deleted = 0;
    let startKey: ScanCommand['input']['ExclusiveStartKey'];
    do {
      const page = await dynamodb.send(
        new ScanCommand({
          TableName: table.name,
          FilterExpression: expired.ConditionExpression,
          ExpressionAttributeNames: expired.ExpressionAttributeNames,
          ExpressionAttributeValues: expired.ExpressionAttributeValues,
          Limit: PAGE,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const key: Record<string, AttributeValue> = {};
        for (const name of table.keyAttributes) if (item[name] !== undefined) key[name] = item[name];
        try {
          await dynamodb.send(new DeleteItemCommand({ TableName: table.name, Key: key, ...expired }));
          deleted += 1;
        } catch (error) {
          // Written again since the scan read it, with its expiry removed or moved: it stays, as on AWS.
          if (!(error instanceof ConditionalCheckFailedException)) throw error;
        }
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return deleted;
  }
}
