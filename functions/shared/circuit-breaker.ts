import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { BreakerOpenError } from './errors.ts';
import { breakerKey } from './table-keys.ts';

/**
 * A circuit breaker shared by every function instance, kept in the state table (`pk = BREAKER#<dependency>`).
 *
 * closed ──(a failure rate over the window, or N failures in a row at low traffic)──► open ──(cooldown)──►
 * half-open: exactly one caller (a conditional lease) probes; its success closes the breaker, its failure opens it
 * again.
 *
 * When it opens: the record counts calls and failures in time buckets over the last `windowMs`. Once the window
 * holds at least `minCalls` calls, only the failure rate decides: it opens when the newest buckets that together
 * hold `minCalls` calls or more have `failureRate` of them failed, so a steady few percent of 5xx never opens it,
 * and an outage after healthy traffic opens it as soon as `minCalls` recent calls are mostly failures, without
 * waiting for the old successes to leave the window. With fewer calls than that in the window (low traffic, where
 * a rate means nothing), `failureThreshold` failures in a row open it, as they always did.
 *
 * The healthy path stays cheap, although a rate needs successes counted: the record is read at most once per
 * `cacheMs` per instance, and successes are counted in this instance's memory, per bucket. They are added to the
 * shared counters with this instance's next failure write, and otherwise at most once per `successFlushMs`, and
 * only while the record shows failures in the window: with no failure in the window the rate is zero whatever the
 * successes, so a dependency that does not fail costs no write at all. A success also resets the count of
 * failures in a row, at once, when this instance saw failures counted (as before). Successes reach the record up
 * to `successFlushMs` late, which can only make a rate look higher for that long, never hide an outage.
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

/** Calls and failures counted in one time bucket of the window (`bucket` = start time / bucket length). */
export interface BreakerBucket {
  bucket: number;
  ok: number;
  failed: number;
}

export interface BreakerRecord {
  state: BreakerState;
  /** Failures since the last success, the oldest no older than the window. */
  failures: number;
  /** Calls counted per time bucket while closed (stored as `ok_<bucket>` / `fail_<bucket>`), oldest first. */
  buckets: BreakerBucket[];
  firstFailureAt?: number;
  openedAt?: number;
  /**
   * When the dependency became unavailable: set when the breaker opens from closed, kept while failed probes open
   * it again, removed when it closes. How long an outage has lasted, for the supervisor.
   */
  openSince?: number;
  openUntil?: number;
  probeOwner?: string;
  probeUntil?: number;
  /** Every time the breaker opened, for dashboards and `sluice status`. */
  opens?: number;
}

export interface BreakerOptions {
  /** Consecutive failures that open the breaker while the window holds fewer than `minCalls` calls. */
  failureThreshold: number;
  /**
   * The window over which calls are counted for the failure rate; failures in a row are counted in a window that
   * starts at the first of them, and once it has passed, counting starts over.
   */
  windowMs: number;
  /** Fewest calls in the window for the failure rate to decide instead of failures in a row. */
  minCalls: number;
  /** Share of calls (0..1) that, failed, opens the breaker. */
  failureRate: number;
  /**
   * Longest this instance keeps the successes it counted before adding them to the record, while the record shows
   * failures in the window.
   * @default 5000
   */
  successFlushMs?: number;
  /** How long the breaker stays open before one caller may probe. */
  cooldownMs: number;
  /** How long a prober has before another caller may probe instead (it may have crashed). */
  probeLeaseMs: number;
  /** How long a read of the record is reused by this instance. */
  cacheMs: number;
}

/**
 * A dependency's breaker record as the breakers share it; a dependency that never failed has none, and reads as
 * closed with no failures.
 * @example const record = await readBreakerRecord(dynamo, 'StateTable', 'memory');
 */
export async function readBreakerRecord(
  client: DynamoDBDocumentClient,
  tableName: string,
  dependency: string,
  consistent = true,
): Promise<BreakerRecord> {
  const { Item } = await client.send(
    new GetCommand({ TableName: tableName, Key: breakerKey(dependency), ConsistentRead: consistent }),
  );
  return recordOf(Item);
}

const BUCKET_ATTRIBUTE = /^(ok|fail)_(\d+)$/;

/** The record as stored (written only by the CircuitBreaker class), its bucket counters gathered. */
function recordOf(item: Record<string, unknown> | undefined): BreakerRecord {
  const fields: Record<string, unknown> = {};
  const buckets = new Map<number, BreakerBucket>();
  for (const [name, value] of Object.entries(item ?? {})) {
    const match = BUCKET_ATTRIBUTE.exec(name);
    if (match === null) {
      fields[name] = value;
      continue;
    }
    const bucket = Number(match[2]);
    const counts = buckets.get(bucket) ?? { bucket, ok: 0, failed: 0 };
    if (match[1] === 'ok') counts.ok += Number(value);
    else counts.failed += Number(value);
    buckets.set(bucket, counts);
  }
  const stored = fields as Partial<BreakerRecord>;
  return {
    ...stored,
    state: stored.state ?? 'closed',
    failures: stored.failures ?? 0,
    buckets: [...buckets.values()].sort((a, b) => a.bucket - b.bucket),
  };
}

/** Buckets the window is cut into: fine enough that the newest calls can be told from older ones. */
const BUCKETS_PER_WINDOW = 30;
/** Buckets are never shorter than a second, so a record holds at most 2 · BUCKETS_PER_WINDOW counters. */
const MIN_BUCKET_MS = 1000;
const DEFAULT_SUCCESS_FLUSH_MS = 5000;

/** How a window of `windowMs` is cut into buckets. */
function bucketing(windowMs: number): { bucketMs: number; count: number } {
  const bucketMs = Math.max(MIN_BUCKET_MS, Math.ceil(windowMs / BUCKETS_PER_WINDOW));
  return { bucketMs, count: Math.max(1, Math.ceil(windowMs / bucketMs)) };
}

/**
 * What the window says: its calls, its failures, and whether the failure rate trips the breaker, judged on the
 * newest buckets that together hold `minCalls` calls or more (each longer run of buckets too).
 * @example windowVerdict(record.buckets, 1234, { count: 30, minCalls: 20, failureRate: 0.5 }) // { calls, failed, tripped }
 */
function windowVerdict(
  buckets: readonly BreakerBucket[],
  currentBucket: number,
  settings: { count: number; minCalls: number; failureRate: number },
): { calls: number; failed: number; tripped: boolean } {
  let calls = 0;
  let failed = 0;
  let tripped = false;
  const newestFirst = buckets
    .filter((entry) => entry.bucket <= currentBucket && entry.bucket > currentBucket - settings.count)
    .sort((a, b) => b.bucket - a.bucket);
  for (const entry of newestFirst) {
    calls += entry.ok + entry.failed;
    failed += entry.failed;
    if (calls >= settings.minCalls && failed >= settings.failureRate * calls) tripped = true;
  }
  return { calls, failed, tripped };
}

/** What a caller holds while it calls the dependency. */
export type BreakerPermit =
  | {
      kind: 'closed';
      /** Failures in a row the record counted when this caller was let through. */
      failuresSeen: number;
      /** Failures in the window the record counted then (whether this instance's successes are worth adding). */
      windowFailures: number;
    }
  | { kind: 'probe'; owner: string };

/** Called when the breaker changes state, for logs and metrics. */
export type BreakerListener = (change: { dependency: string; from: BreakerState; to: BreakerState }) => void;

/**
 * @example
 * const permit = await breaker.acquire(owner);   // throws BreakerOpenError while open
 * try { await call(); await breaker.onSuccess(permit); } catch (e) { await breaker.onFailure(permit); throw e; }
 */
export class CircuitBreaker {
  readonly dependency: string;
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #options: BreakerOptions;
  readonly #now: () => number;
  readonly #listener: BreakerListener | undefined;
  #cache: { record: BreakerRecord; readAt: number } | undefined;
  readonly #bucketMs: number;
  readonly #bucketCount: number;
  /** Successes of this instance not yet in the record, per bucket. */
  readonly #pendingOk = new Map<number, number>();
  #flushedAt = Number.NEGATIVE_INFINITY;

  constructor(
    client: DynamoDBDocumentClient,
    tableName: string,
    dependency: string,
    options: BreakerOptions,
    now: () => number,
    listener?: BreakerListener,
  ) {
    this.#client = client;
    this.#tableName = tableName;
    this.dependency = dependency;
    this.#options = options;
    this.#now = now;
    this.#listener = listener;
    const { bucketMs, count } = bucketing(options.windowMs);
    this.#bucketMs = bucketMs;
    this.#bucketCount = count;
  }

  /** May the caller call the dependency now? Throws BreakerOpenError (with how long to wait) when not. */
  async acquire(owner: string): Promise<BreakerPermit> {
    const now = this.#now();
    const record = await this.#read(false);
    if (record.state === 'closed') {
      const { failed } = this.#verdict(record, now);
      return { kind: 'closed', failuresSeen: record.failures, windowFailures: failed };
    }
    const probeFree =
      (record.state === 'open' && (record.openUntil ?? 0) <= now) ||
      (record.state === 'half-open' && (record.probeUntil ?? 0) <= now);
    if (!probeFree) {
      const until = record.state === 'open' ? (record.openUntil ?? now) : (record.probeUntil ?? now);
      throw new BreakerOpenError(this.dependency, Math.max(until - now, 100));
    }
    const won = await this.#write(
      'SET #state = :halfOpen, probeOwner = :owner, probeUntil = :probeUntil',
      '(#state = :open AND openUntil <= :now) OR (#state = :halfOpen AND probeUntil <= :now)',
      {
        ':halfOpen': 'half-open',
        ':open': 'open',
        ':owner': owner,
        ':probeUntil': now + this.#options.probeLeaseMs,
        ':now': now,
      },
    );
    if (!won) {
      // Another caller became the prober first.
      throw new BreakerOpenError(this.dependency, Math.min(this.#options.probeLeaseMs, this.#options.cooldownMs));
    }
    this.#notify(record.state, 'half-open');
    return { kind: 'probe', owner };
  }

  /**
   * The call succeeded: close after a probe (and forget the window's counts, the outage's failures among them);
   * forget failures in a row; count the success in memory, added to the record only when it can matter.
   */
  async onSuccess(permit: BreakerPermit): Promise<void> {
    const now = this.#now();
    if (permit.kind === 'probe') {
      const names: Record<string, string> = {};
      const current = this.#bucketOf(now);
      for (let i = 0; i < this.#bucketCount; i += 1) {
        names[`#ok${i}`] = `ok_${current - i}`;
        names[`#fail${i}`] = `fail_${current - i}`;
      }
      const closed = await this.#write(
        `SET #state = :closed, failures = :zero REMOVE probeOwner, probeUntil, openUntil, openSince, firstFailureAt, ${Object.keys(names).join(', ')}`,
        '#state = :halfOpen AND probeOwner = :owner',
        { ':closed': 'closed', ':zero': 0, ':halfOpen': 'half-open', ':owner': permit.owner },
        names,
      );
      if (closed) this.#notify('half-open', 'closed');
      return;
    }
    this.#pendingOk.set(this.#bucketOf(now), (this.#pendingOk.get(this.#bucketOf(now)) ?? 0) + 1);
    if (permit.failuresSeen > 0) {
      const counts = this.#takeCounts(now, 0, []);
      await this.#write(
        `SET failures = :zero${counts.add} REMOVE firstFailureAt`,
        '#state = :closed',
        { ':zero': 0, ':closed': 'closed', ...counts.values },
        counts.names,
      );
      return;
    }
    if (
      permit.windowFailures > 0 &&
      now - this.#flushedAt >= (this.#options.successFlushMs ?? DEFAULT_SUCCESS_FLUSH_MS)
    ) {
      const counts = this.#takeCounts(now, 0, []);
      if (counts.add === '') return;
      await this.#write(counts.add.trim(), '#state = :closed', { ':closed': 'closed', ...counts.values }, counts.names);
    }
  }

  /**
   * The caller will not call after all (a limiter or the budget said wait): a prober lets another caller probe
   * at once instead of holding the probe until its lease lapses.
   */
  async release(permit: BreakerPermit): Promise<void> {
    if (permit.kind !== 'probe') return;
    await this.#write(
      'SET #state = :open, openUntil = :now REMOVE probeOwner, probeUntil',
      '#state = :halfOpen AND probeOwner = :owner',
      {
        ':open': 'open',
        ':now': this.#now(),
        ':halfOpen': 'half-open',
        ':owner': permit.owner,
      },
    );
  }

  /**
   * The call failed in a way that says the dependency is unhealthy. Returns the breaker's state afterwards: a
   * failure that leaves it open is the dependency's, not the caller's.
   */
  async onFailure(permit: BreakerPermit): Promise<BreakerState> {
    const now = this.#now();
    const reopen = {
      ':open': 'open',
      ':openUntil': now + this.#options.cooldownMs,
      ':now': now,
      ':one': 1,
    };
    if (permit.kind === 'probe') {
      const reopened = await this.#write(
        'SET #state = :open, openedAt = :now, openSince = if_not_exists(openSince, :now), openUntil = :openUntil ADD opens :one REMOVE probeOwner, probeUntil',
        '#state = :halfOpen AND probeOwner = :owner',
        { ...reopen, ':halfOpen': 'half-open', ':owner': permit.owner },
      );
      if (reopened) this.#notify('half-open', 'open');
      return 'open';
    }
    const record = await this.#read(true);
    if (record.state !== 'closed') {
      this.#pendingOk.clear();
      return record.state;
    }
    // This failure, this instance's successes not yet counted, and the removal of buckets past the window, in the
    // same write that counts the failure in a row.
    const counts = this.#takeCounts(now, 1, record.buckets);
    const stale = record.firstFailureAt !== undefined && now - record.firstFailureAt > this.#options.windowMs;
    // A new window starts only from the window this caller saw, so concurrent failures are all counted.
    const restarted = stale
      ? await this.#update(
          `SET failures = :one, firstFailureAt = :now${counts.add}${counts.remove}`,
          '#state = :closed AND firstFailureAt = :seen',
          { ':one': 1, ':now': now, ':closed': 'closed', ':seen': record.firstFailureAt, ...counts.values },
          counts.names,
        )
      : undefined;
    const counted =
      restarted ??
      (await this.#update(
        `SET #state = if_not_exists(#state, :closed), firstFailureAt = if_not_exists(firstFailureAt, :now) ADD failures :one${counts.add.replace(' ADD ', ', ')}${counts.remove}`,
        'attribute_not_exists(#state) OR #state = :closed',
        { ':closed': 'closed', ':now': now, ':one': 1, ...counts.values },
        counts.names,
      ));
    if (counted === undefined) return 'open';
    const after = recordOf(counted);
    const window = this.#verdict(after, now);
    const trips =
      window.calls >= this.#options.minCalls ? window.tripped : after.failures >= this.#options.failureThreshold;
    if (!trips) return 'closed';
    const opened = await this.#write(
      'SET #state = :open, openedAt = :now, openSince = :now, openUntil = :openUntil ADD opens :one',
      '#state = :closed',
      { ...reopen, ':closed': 'closed' },
    );
    if (opened) this.#notify('closed', 'open');
    return 'open';
  }

  /** How long the breaker stays open after it opens. */
  get cooldownMs(): number {
    return this.#options.cooldownMs;
  }

  /** The breaker's record as this instance last saw it (read if stale). */
  async state(): Promise<BreakerRecord> {
    return this.#read(false);
  }

  #bucketOf(time: number): number {
    return Math.floor(time / this.#bucketMs);
  }

  #verdict(record: BreakerRecord, now: number) {
    return windowVerdict(record.buckets, this.#bucketOf(now), {
      count: this.#bucketCount,
      minCalls: this.#options.minCalls,
      failureRate: this.#options.failureRate,
    });
  }

  /**
   * The update clauses that add `failures` failures in the current bucket and this instance's pending successes
   * (which are taken: the caller writes them now), and remove the buckets of `seen` past the window.
   */
  #takeCounts(now: number, failures: number, seen: readonly BreakerBucket[]) {
    const current = this.#bucketOf(now);
    const oldest = current - this.#bucketCount + 1;
    const names: Record<string, string> = {};
    const values: Record<string, number> = {};
    const adds: string[] = [];
    let n = 0;
    for (const [bucket, ok] of this.#pendingOk) {
      if (bucket < oldest) continue;
      names[`#ok${n}`] = `ok_${bucket}`;
      values[`:ok${n}`] = ok;
      adds.push(`#ok${n} :ok${n}`);
      n += 1;
    }
    this.#pendingOk.clear();
    this.#flushedAt = now;
    if (failures > 0) {
      names['#failNow'] = `fail_${current}`;
      values[':failNow'] = failures;
      adds.push('#failNow :failNow');
    }
    const removes: string[] = [];
    for (const [i, entry] of seen.filter((bucket) => bucket.bucket < oldest).entries()) {
      names[`#oldOk${i}`] = `ok_${entry.bucket}`;
      names[`#oldFail${i}`] = `fail_${entry.bucket}`;
      removes.push(`#oldOk${i}`, `#oldFail${i}`);
    }
    return {
      add: adds.length === 0 ? '' : ` ADD ${adds.join(', ')}`,
      remove: removes.length === 0 ? '' : ` REMOVE ${removes.join(', ')}`,
      names,
      values,
    };
  }

  async #read(fresh: boolean): Promise<BreakerRecord> {
    const now = this.#now();
    if (!fresh && this.#cache && now - this.#cache.readAt < this.#options.cacheMs) return this.#cache.record;
    const record = await readBreakerRecord(this.#client, this.#tableName, this.dependency, fresh);
    this.#cache = { record, readAt: now };
    return record;
  }

  /** A conditional update; false when the condition did not hold. Any write drops the cached record. */
  async #write(
    update: string,
    condition: string,
    values: Record<string, unknown>,
    names: Record<string, string> = {},
  ): Promise<boolean> {
    return (await this.#update(update, condition, values, names)) !== undefined;
  }

  /** A conditional update returning the new record as stored, or undefined when the condition did not hold. */
  async #update(
    update: string,
    condition: string,
    values: Record<string, unknown>,
    names: Record<string, string> = {},
  ): Promise<Record<string, unknown> | undefined> {
    this.#cache = undefined;
    try {
      const { Attributes } = await this.#client.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: breakerKey(this.dependency),
          UpdateExpression: update,
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#state': 'state', ...names },
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return Attributes ?? {};
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  #notify(from: BreakerState, to: BreakerState) {
    this.#listener?.({ dependency: this.dependency, from, to });
  }
}
