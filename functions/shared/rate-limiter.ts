import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { RateLimitedError } from './errors.ts';

/**
 * Requests-per-minute and tokens-per-minute limits per model, shared by every function instance through one
 * record per model in the state table (`pk = LIMIT#<model>`).
 *
 * It is the generic cell rate algorithm (GCRA): each limit keeps one "theoretical arrival time" (TAT). A call
 * costing `c` moves the TAT to max(TAT, now) + c·I, where I is the time one unit of the limit is worth, and is
 * admitted only while TAT − now stays within the burst tolerance τ = B·I. In any interval of length T the
 * admitted cost is then at most T/I + B, so with I = (60 s + safety) / (limit − B) no sliding minute — as the
 * provider counts it, a little later than we do — ever sees more than the limit. A refusal knows exactly how
 * long to wait. Tokens are reserved as the worst case (estimated prompt + max_tokens) and settled to the real
 * usage after the call, which moves the TAT back.
 *
 * Written by hand: no library implements a DynamoDB-backed GCRA shared across Lambda instances.
 */

export interface ModelLimits {
  rpm?: number | undefined;
  tpm?: number | undefined;
}

/** Allowance for the provider counting a request a little later than we reserve it (network, queueing). */
const SAFETY_MS = 1000;
/** Burst tolerance as a share of the limit: small, so the spacing stays close to the limit's own rate. */
const BURST_SHARE = 0.02;
/** Floating-point slack when comparing sums of fractional intervals (a microsecond; admits nothing measurable). */
const ROUNDING_MS = 1e-3;
/** Conditional-write races lost in a row before a reservation gives up and defers. */
const MAX_RACES = 8;

interface LimiterRecord {
  tatRequests?: number;
  tatTokens?: number;
  /** A provider's 429 said to come back no earlier than this. */
  heldUntil?: number;
}

export interface Reservation {
  model: string;
  tokens: number;
  /** The unit interval for tokens at reservation time, to settle with the same rate. */
  tokenIntervalMs: number;
  /** The token TAT right after this reservation: only credit still in the future can be given back. */
  tokensTatAfter: number;
}

/** The parameters of one limit: interval per unit and burst tolerance, both in milliseconds. */
export interface GcraParameters {
  intervalMs: number;
  toleranceMs: number;
}

export function gcraParameters(limitPerMinute: number, largestCost = 1): GcraParameters {
  const burst = Math.max(1, Math.floor(limitPerMinute * BURST_SHARE), Math.min(largestCost, limitPerMinute / 2));
  const intervalMs = (60_000 + SAFETY_MS) / Math.max(1, limitPerMinute - burst);
  return { intervalMs, toleranceMs: burst * intervalMs };
}

/**
 * Admits a call of `cost` at `now` against `tat`: the new TAT, or how long to wait.
 * @example gcraAdmit(0, 1_000, 1, { intervalMs: 1000, toleranceMs: 2000 }) // { ok: true, tat: 2000 }
 */
export function gcraAdmit(
  tat: number,
  now: number,
  cost: number,
  params: GcraParameters,
): { ok: true; tat: number } | { ok: false; waitMs: number } {
  // Work with how far ahead of now the TAT is (small numbers), not with clock-sized ones, so ties are exact.
  const ahead = Math.max(tat - now, 0) + cost * params.intervalMs;
  // A cost larger than the whole tolerance is admitted only when nothing is outstanding.
  const allowance = Math.max(params.toleranceMs, cost * params.intervalMs);
  // Stored TATs are whole milliseconds (rounded up: never admits more), so they read back exactly.
  // The interval is a fraction, so a sum that is exactly the allowance can come out a hair above it: compare
  // with a tolerance far below a millisecond, or a caller told to wait exactly the deficit would be refused again.
  const deficit = ahead - allowance;
  if (deficit <= ROUNDING_MS) return { ok: true, tat: Math.ceil(now + ahead) };
  return { ok: false, waitMs: Math.ceil(deficit) };
}

/**
 * @example
 * const reservation = await limiter.reserve('gpt-4o-mini', 2600);   // throws RateLimitedError with the wait
 * await limiter.settle(reservation, usage.prompt_tokens + usage.completion_tokens);
 */
export class RateLimiter {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #limits: Readonly<Record<string, ModelLimits>>;
  readonly #largestCost: number;
  readonly #now: () => number;
  /** The limiter record of each model as this instance last saw it: guesses the form of the next update. */
  readonly #known = new Map<string, LimiterRecord>();

  /** @param largestCost the largest token reservation expected (prompt + max_tokens), so it always fits a burst. */
  constructor(
    client: DynamoDBDocumentClient,
    tableName: string,
    limits: Readonly<Record<string, ModelLimits>>,
    largestCost: number,
    now: () => number,
  ) {
    this.#client = client;
    this.#tableName = tableName;
    this.#limits = limits;
    this.#largestCost = largestCost;
    this.#now = now;
  }

  /**
   * Reserves one request and `tokens` tokens for `model`, or throws RateLimitedError saying how long to wait.
   *
   * One conditional write on the healthy path: the update moves each TAT atomically (`tat + cost·I` while the
   * limit is busy, `now + cost·I` once it has gone idle) under a condition that holds exactly when GCRA admits
   * the call, so concurrent instances never need to read first. Which of the two forms applies is guessed from
   * the record this instance saw last; a wrong guess, a refusal or a hold comes back as a failed condition
   * with the current record, which decides the retry or the wait.
   */
  async reserve(model: string, tokens: number): Promise<Reservation | undefined> {
    const limits = this.#limits[model];
    if (limits === undefined || (limits.rpm === undefined && limits.tpm === undefined)) return undefined;
    const requests = limits.rpm === undefined ? undefined : gcraParameters(limits.rpm);
    const tokenParams = limits.tpm === undefined ? undefined : gcraParameters(limits.tpm, this.#largestCost);
    const charges: [attribute: 'tatRequests' | 'tatTokens', params: GcraParameters, cost: number][] = [];
    if (requests !== undefined) charges.push(['tatRequests', requests, 1]);
    if (tokenParams !== undefined) charges.push(['tatTokens', tokenParams, tokens]);
    for (let race = 0; race < MAX_RACES; race += 1) {
      const now = this.#now();
      const known = this.#known.get(model) ?? {};
      const values: Record<string, unknown> = { ':now': now };
      const sets: string[] = [];
      const conditions = ['(attribute_not_exists(heldUntil) OR heldUntil <= :now)'];
      for (const [attribute, params, cost] of charges) {
        const increment = cost * params.intervalMs;
        const seen = known[attribute];
        if (seen !== undefined && seen >= now) {
          // Busy: admitted while tat − now + cost·I stays within the allowance (see gcraAdmit).
          values[`:inc_${attribute}`] = increment;
          values[`:max_${attribute}`] = now + Math.max(params.toleranceMs, increment) - increment + ROUNDING_MS;
          sets.push(`${attribute} = ${attribute} + :inc_${attribute}`);
          conditions.push(`${attribute} BETWEEN :now AND :max_${attribute}`);
        } else {
          values[`:new_${attribute}`] = now + increment;
          sets.push(`${attribute} = :new_${attribute}`);
          conditions.push(`(attribute_not_exists(${attribute}) OR ${attribute} < :now)`);
        }
      }
      try {
        const { Attributes } = await this.#client.send(
          new UpdateCommand({
            TableName: this.#tableName,
            Key: this.#key(model),
            UpdateExpression: `SET ${sets.join(', ')}`,
            ConditionExpression: conditions.join(' AND '),
            ExpressionAttributeValues: values,
            ReturnValues: 'ALL_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        // Written only by this class.
        const record = (Attributes ?? {}) as LimiterRecord;
        this.#known.set(model, record);
        return {
          model,
          tokens,
          tokenIntervalMs: tokenParams?.intervalMs ?? 0,
          tokensTatAfter: Number(record.tatTokens ?? 0),
        };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        // DynamoDB returns the record that failed the condition; an emulator without that feature needs a read.
        const record = error.Item ? (unmarshall(error.Item) as LimiterRecord) : await this.#read(model);
        this.#known.set(model, record);
        if (record.heldUntil !== undefined && record.heldUntil > now) {
          const waitMs = record.heldUntil - now;
          throw new RateLimitedError(`${model} asked us to wait: next call in ${waitMs} ms`, waitMs);
        }
        let waitMs = 0;
        for (const [attribute, params, cost] of charges) {
          const admitted = gcraAdmit(record[attribute] ?? 0, now, cost, params);
          if (!admitted.ok) waitMs = Math.max(waitMs, admitted.waitMs);
        }
        if (waitMs > 0) {
          throw new RateLimitedError(`rate limit of ${model} reached: next call in ${waitMs} ms`, waitMs);
        }
        // Admissible after all: the guess of busy or idle was wrong, or another instance moved first.
      }
    }
    throw new RateLimitedError(`rate limit of ${model} is contended: try again shortly`, 50 + Math.random() * 200);
  }

  /**
   * Gives back the tokens reserved but not used. Only the part of the reservation still ahead of now is given
   * back: time that has passed was really held, and crediting it again would let a later minute overrun.
   */
  async settle(reservation: Reservation | undefined, usedTokens: number): Promise<void> {
    if (reservation === undefined || reservation.tokenIntervalMs === 0) return;
    const unused = reservation.tokens - usedTokens;
    const stillAhead = reservation.tokensTatAfter - this.#now();
    const back = Math.min(unused * reservation.tokenIntervalMs, stillAhead);
    if (back <= 0) return;
    await this.#client
      .send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: this.#key(reservation.model),
          UpdateExpression: 'ADD tatTokens :back',
          ConditionExpression: 'attribute_exists(tatTokens)',
          ExpressionAttributeValues: { ':back': -back },
        }),
      )
      .catch((error: unknown) => {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      });
  }

  /**
   * The provider refused with 429 and said when to come back: hold every instance back until then, so the
   * whole fleet honours Retry-After, not only the caller that saw it. Kept apart from the TATs, so neither a
   * settle nor the burst tolerance can shorten it.
   */
  async holdUntil(model: string, until: number): Promise<void> {
    await this.#client
      .send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: this.#key(model),
          UpdateExpression: 'SET heldUntil = :until',
          ConditionExpression: 'attribute_not_exists(heldUntil) OR heldUntil < :until',
          ExpressionAttributeValues: { ':until': Math.ceil(until) },
        }),
      )
      .catch((error: unknown) => {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      });
  }

  async #read(model: string): Promise<LimiterRecord> {
    const { Item } = await this.#client.send(
      new GetCommand({ TableName: this.#tableName, Key: this.#key(model), ConsistentRead: true }),
    );
    // Written only by this class.
    return (Item ?? {}) as LimiterRecord;
  }

  #key(model: string) {
    return { pk: `LIMIT#${model}`, sk: 'LIMIT' };
  }
}
