import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { BreakerOpenError } from './errors.ts';

/**
 * A circuit breaker shared by every function instance, kept in the state table (`pk = BREAKER#<dependency>`).
 *
 * closed ──(N failures in a row within a window that starts at the first of them)──► open ──(cooldown)──► half-open: exactly one
 * caller (a conditional lease) probes; its success closes the breaker, its failure opens it again.
 *
 * The healthy path is cheap: the record is read at most once per `cacheMs` per instance and a success writes
 * nothing unless failures had been counted. Counting consecutive failures (rather than a failure rate) is what
 * keeps successes free: a rate needs every success written.
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerRecord {
  state: BreakerState;
  /** Failures since the last success, the oldest no older than the window. */
  failures: number;
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
  /** Consecutive failures that open the breaker. */
  failureThreshold: number;
  /** Failures are counted in a window starting at the first failure; once it has passed, counting starts over. */
  windowMs: number;
  /** How long the breaker stays open before one caller may probe. */
  cooldownMs: number;
  /** How long a prober has before another caller may probe instead (it may have crashed). */
  probeLeaseMs: number;
  /** How long a read of the record is reused by this instance. */
  cacheMs: number;
}

/** Key of a dependency's breaker record. @example breakerKey('memory') // { pk: 'BREAKER#memory', sk: 'BREAKER' } */
export function breakerKey(dependency: string): { pk: string; sk: string } {
  return { pk: `BREAKER#${dependency}`, sk: 'BREAKER' };
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
  // Written only by the CircuitBreaker class.
  const stored = (Item ?? {}) as Partial<BreakerRecord>;
  return { ...stored, state: stored.state ?? 'closed', failures: stored.failures ?? 0 };
}

/** What a caller holds while it calls the dependency. */
export type BreakerPermit = { kind: 'closed'; failuresSeen: number } | { kind: 'probe'; owner: string };

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
  }

  /** May the caller call the dependency now? Throws BreakerOpenError (with how long to wait) when not. */
  async acquire(owner: string): Promise<BreakerPermit> {
    const now = this.#now();
    const record = await this.#read(false);
    if (record.state === 'closed') return { kind: 'closed', failuresSeen: record.failures };
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

  /** The call succeeded: close after a probe; forget counted failures; otherwise write nothing. */
  async onSuccess(permit: BreakerPermit): Promise<void> {
    if (permit.kind === 'probe') {
      const closed = await this.#write(
        'SET #state = :closed, failures = :zero REMOVE probeOwner, probeUntil, openUntil, openSince, firstFailureAt',
        '#state = :halfOpen AND probeOwner = :owner',
        { ':closed': 'closed', ':zero': 0, ':halfOpen': 'half-open', ':owner': permit.owner },
      );
      if (closed) this.#notify('half-open', 'closed');
      return;
    }
    if (permit.failuresSeen > 0) {
      await this.#write('SET failures = :zero REMOVE firstFailureAt', '#state = :closed', {
        ':zero': 0,
        ':closed': 'closed',
      });
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
    if (record.state !== 'closed') return record.state;
    const stale = record.firstFailureAt !== undefined && now - record.firstFailureAt > this.#options.windowMs;
    // A new window starts only from the window this caller saw, so concurrent failures are all counted.
    const restarted =
      stale &&
      (await this.#write('SET failures = :one, firstFailureAt = :now', '#state = :closed AND firstFailureAt = :seen', {
        ':one': 1,
        ':now': now,
        ':closed': 'closed',
        ':seen': record.firstFailureAt,
      }));
    const counted = restarted
      ? { failures: 1 }
      : await this.#update(
          'SET #state = if_not_exists(#state, :closed), firstFailureAt = if_not_exists(firstFailureAt, :now) ADD failures :one',
          'attribute_not_exists(#state) OR #state = :closed',
          { ':closed': 'closed', ':now': now, ':one': 1 },
        );
    if (counted === undefined) return 'open';
    if ((counted.failures ?? 0) < this.#options.failureThreshold) return 'closed';
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

  async #read(fresh: boolean): Promise<BreakerRecord> {
    const now = this.#now();
    if (!fresh && this.#cache && now - this.#cache.readAt < this.#options.cacheMs) return this.#cache.record;
    const record = await readBreakerRecord(this.#client, this.#tableName, this.dependency, fresh);
    this.#cache = { record, readAt: now };
    return record;
  }

  /** A conditional update; false when the condition did not hold. Any write drops the cached record. */
  async #write(update: string, condition: string, values: Record<string, unknown>): Promise<boolean> {
    return (await this.#update(update, condition, values)) !== undefined;
  }

  /** A conditional update returning the new record, or undefined when the condition did not hold. */
  async #update(
    update: string,
    condition: string,
    values: Record<string, unknown>,
  ): Promise<Partial<BreakerRecord> | undefined> {
    this.#cache = undefined;
    try {
      const { Attributes } = await this.#client.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: breakerKey(this.dependency),
          UpdateExpression: update,
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return (Attributes ?? {}) as Partial<BreakerRecord>;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  #notify(from: BreakerState, to: BreakerState) {
    this.#listener?.({ dependency: this.dependency, from, to });
  }
}
