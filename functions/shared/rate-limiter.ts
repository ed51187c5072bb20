import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { RateLimitedError } from './errors.ts';
import {
  type AdvertisedLimits,
  type RateLimitDialect,
  type TokenCounting,
  type TokenRequest,
  tokenCharge,
} from './provider-limits.ts';
import { limitKey } from './table-keys.ts';

/**
 * Requests-per-minute and tokens-per-minute limits per model, shared by every function instance through one
 * record per model in the state table (`pk = LIMIT#<model>`).
 *
 * It is the generic cell rate algorithm (GCRA): each limit keeps one "theoretical arrival time" (TAT). A call
 * costing `c` moves the TAT to max(TAT, now) + c·I, where I is the time one unit of the limit is worth, and is
 * admitted only while TAT − now stays within the burst tolerance τ = B·I. In any interval of length T the
 * admitted cost is then at most T/I + B, so with I = (60 s + safety) / (limit − B) no sliding minute — as the
 * provider counts it, a little later than we do — ever sees more than the limit. A refusal knows exactly how
 * long to wait.
 *
 * Tokens are charged the way the model's provider counts them (`tokenCounting`): OpenAI documents that a request
 * counts against TPM when it is admitted, by its prompt estimate and `max_tokens`, and nothing is given back when
 * the answer is shorter (`admission`, the default; `admission-max` charges the larger of the two instead of their
 * sum). A provider that counts the tokens actually used (`usage`) gets the worst case reserved and settled to the
 * real usage after the call, which moves the TAT back. Giving back what such a provider keeps would let every
 * minute overrun it by the unused share of `max_tokens`. A call that never reached the provider is given back
 * whole in every mode.
 *
 * The provider can lower its limits without notice and advertises the current ones on every answer. `observe`
 * stores them on the same record (only when they change what is enforced), and every instance then paces the
 * model at min(configured, advertised), limit by limit: each reservation's condition also checks that the record's
 * advertised limits are the ones the instance paced it by, so an instance learns another's observation from the
 * write it makes anyway, without a read. A configured limit is the ceiling: an advertised limit only lowers it,
 * and a model or a limit without a configured value stays unlimited.
 *
 * Written by hand: no library implements a DynamoDB-backed GCRA shared across Lambda instances.
 */

export interface ModelLimits {
  rpm?: number | undefined;
  tpm?: number | undefined;
  /** How the provider counts tokens against `tpm`. @default 'admission' */
  tokenCounting?: TokenCounting | undefined;
  /** The rate-limit headers the provider sends (read by the LLM client). @default 'openai' */
  headers?: RateLimitDialect | undefined;
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
  /** The per-minute limits the provider advertised last, and when that was observed. */
  advertisedRpm?: number;
  advertisedTpm?: number;
  advertisedAt?: number;
  /** 429s the provider answered for this model, ever (only grows; read to adapt the stages' concurrency). */
  throttled?: number;
}

/** A change of the limits an instance enforces for a model, because of what the provider advertised. */
export interface LimitChange {
  model: string;
  /** The limits configured for the model: the ceiling. */
  configured: ModelLimits;
  /** The limits the provider advertised last, as the shared record holds them. */
  advertised: ModelLimits;
  /** The effective limits, min(configured, advertised), before and after. */
  from: ModelLimits;
  to: ModelLimits;
}

export type LimitChangeListener = (change: LimitChange) => void;

export interface Reservation {
  model: string;
  /** Tokens charged at admission. */
  tokens: number;
  /**
   * How the provider counts, and what was reserved: under `usage` what the answer did not use is given back, at
   * admission the charge is recounted with the prompt the provider counted.
   */
  counting: TokenCounting;
  request: TokenRequest;
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
 * The limits to enforce: each configured limit, lowered to the advertised one when that is lower.
 * @example effectiveLimits({ rpm: 120, tpm: 50_000 }, { advertisedRpm: 60, advertisedTpm: 90_000 }) // { rpm: 60, tpm: 50000 }
 */
export function effectiveLimits(
  configured: ModelLimits,
  advertised: Pick<LimiterRecord, 'advertisedRpm' | 'advertisedTpm'>,
): ModelLimits {
  return {
    rpm: lowered(configured.rpm, advertised.advertisedRpm),
    tpm: lowered(configured.tpm, advertised.advertisedTpm),
  };
}

function lowered(configured: number | undefined, advertised: number | undefined): number | undefined {
  if (configured === undefined || advertised === undefined) return configured;
  return Math.min(configured, advertised);
}

const sameLimits = (a: ModelLimits, b: ModelLimits) => a.rpm === b.rpm && a.tpm === b.tpm;

/** An advertised limit worth following: a whole number of at least one (a zero or garbage header is ignored). */
function usableLimit(value: number | undefined): number | undefined {
  if (value === undefined || !Number.isFinite(value) || value < 1) return undefined;
  return Math.floor(value);
}

/** The record attribute holding the advertised value of each limit. */
const ADVERTISED = { rpm: 'advertisedRpm', tpm: 'advertisedTpm' } as const;

/**
 * @example
 * const reservation = await limiter.reserve('gpt-4o-mini', { promptTokens: 600, maxTokens: 2048 }); // or RateLimitedError
 * await limiter.settle(reservation, usage.prompt_tokens + usage.completion_tokens); // gives back only under `usage`
 * await limiter.release(reservation);                                  // instead: the call was never sent
 * await limiter.observe('gpt-4o-mini', completion.limits);           // the provider's advertised limits
 */
export class RateLimiter {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #limits: Readonly<Record<string, ModelLimits>>;
  readonly #largestCost: number;
  readonly #now: () => number;
  readonly #listener: LimitChangeListener | undefined;
  /**
   * The limiter record of each model as this instance last saw it: guesses the form of the next update, and
   * holds the advertised limits this instance paces the model by.
   */
  readonly #known = new Map<string, LimiterRecord>();

  /**
   * @param largestCost the largest token charge expected (prompt + max_tokens), so it always fits a burst.
   * @param listener told whenever the limits this instance enforces for a model change (to log it).
   */
  constructor(
    client: DynamoDBDocumentClient,
    tableName: string,
    limits: Readonly<Record<string, ModelLimits>>,
    largestCost: number,
    now: () => number,
    listener?: LimitChangeListener,
  ) {
    this.#client = client;
    this.#tableName = tableName;
    this.#limits = limits;
    this.#largestCost = largestCost;
    this.#now = now;
    this.#listener = listener;
  }

  /**
   * Reserves one request and `tokens` tokens for `model`, or throws RateLimitedError saying how long to wait.
   *
   * One conditional write on the healthy path: the update moves each TAT atomically (`tat + cost·I` while the
   * limit is busy, `now + cost·I` once it has gone idle) under a condition that holds exactly when GCRA admits
   * the call, so concurrent instances never need to read first. Which of the two forms applies is guessed from
   * the record this instance saw last; a wrong guess, a refusal or a hold comes back as a failed condition
   * with the current record, which decides the retry or the wait. The limits are the effective ones of the
   * record last seen, and the condition checks the record still advertises them (see the class comment).
   */
  async reserve(model: string, request: TokenRequest): Promise<Reservation | undefined> {
    const configured = this.#limits[model];
    if (configured === undefined || (configured.rpm === undefined && configured.tpm === undefined)) return undefined;
    const counting = configured.tokenCounting ?? 'admission';
    const tokens = tokenCharge(counting, request);
    for (let race = 0; race < MAX_RACES; race += 1) {
      const now = this.#now();
      const known = this.#known.get(model) ?? {};
      const { charges, tokenParams } = this.#charges(configured, known, tokens);
      const values: Record<string, unknown> = { ':now': now };
      const sets: string[] = [];
      const conditions = [
        '(attribute_not_exists(heldUntil) OR heldUntil <= :now)',
        ...advertisedConditions(configured, known, values),
      ];
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
        this.#learn(model, record);
        return {
          model,
          tokens,
          counting,
          request,
          tokenIntervalMs: tokenParams?.intervalMs ?? 0,
          tokensTatAfter: Number(record.tatTokens ?? 0),
        };
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        // DynamoDB returns the record that failed the condition; an emulator without that feature needs a read.
        const record = error.Item ? (unmarshall(error.Item) as LimiterRecord) : await this.#read(model);
        this.#learn(model, record);
        if (record.heldUntil !== undefined && record.heldUntil > now) {
          const waitMs = record.heldUntil - now;
          throw new RateLimitedError(`${model} asked us to wait: next call in ${waitMs} ms`, waitMs);
        }
        let waitMs = 0;
        for (const [attribute, params, cost] of this.#charges(configured, record, tokens).charges) {
          const admitted = gcraAdmit(record[attribute] ?? 0, now, cost, params);
          if (!admitted.ok) waitMs = Math.max(waitMs, admitted.waitMs);
        }
        if (waitMs > 0) {
          throw new RateLimitedError(`rate limit of ${model} reached: next call in ${waitMs} ms`, waitMs);
        }
        // Admissible after all: the guess of busy or idle was wrong, another instance moved first, or the
        // advertised limits changed (the next round paces by the new ones).
      }
    }
    throw new RateLimitedError(`rate limit of ${model} is contended: try again shortly`, 50 + Math.random() * 200);
  }

  /**
   * Settles a call the provider answered or failed: gives back the tokens reserved but not used, when the provider
   * counts usage (`usage`); a provider that counts at admission keeps what it charged, answer or not. Given the
   * prompt tokens the provider's answer reports, an admission charge is recounted with them in place of the
   * estimate (which errs high, at about 3 characters a token): the provider charged its own count of the prompt and
   * the call's `max_tokens`, so what the estimate reserved beyond that is given back, and never more.
   */
  async settle(reservation: Reservation | undefined, usedTokens: number, promptTokens?: number): Promise<void> {
    if (reservation === undefined) return;
    if (reservation.counting === 'usage') {
      await this.#giveBack(reservation, reservation.tokens - usedTokens);
      return;
    }
    if (promptTokens === undefined) return;
    const charged = tokenCharge(reservation.counting, { ...reservation.request, promptTokens });
    if (charged < reservation.tokens) await this.#giveBack(reservation, reservation.tokens - charged);
  }

  /** Gives back a whole reservation whose call was never sent (a budget refused it, a breaker was busy). */
  async release(reservation: Reservation | undefined): Promise<void> {
    if (reservation === undefined) return;
    await this.#giveBack(reservation, reservation.tokens);
  }

  /**
   * Moves the token TAT back by `unused` tokens. Only the part of the reservation still ahead of now is given
   * back: time that has passed was really held, and crediting it again would let a later minute overrun.
   */
  async #giveBack(reservation: Reservation, unused: number): Promise<void> {
    if (reservation.tokenIntervalMs === 0) return;
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
   * settle nor the burst tolerance can shorten it. Every call also counts the 429 in the record's `throttled`
   * (which only grows): one write when the hold moves, a second, unconditional one when a later hold was set
   * already.
   * @example await limiter.holdUntil('gpt-4o-mini', now + error.retryAfterMs);
   */
  async holdUntil(model: string, until: number): Promise<void> {
    if (await this.#hold(model, until, true)) return;
    await this.#client.send(
      new UpdateCommand({
        TableName: this.#tableName,
        Key: this.#key(model),
        UpdateExpression: 'ADD throttled :one',
        ExpressionAttributeValues: { ':one': 1 },
      }),
    );
  }

  /** Moves `heldUntil` later (never earlier), counting a 429 with it; false when it was later already. */
  async #hold(model: string, until: number, throttled = false): Promise<boolean> {
    try {
      await this.#client.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: this.#key(model),
          UpdateExpression: throttled ? 'SET heldUntil = :until ADD throttled :one' : 'SET heldUntil = :until',
          ConditionExpression: 'attribute_not_exists(heldUntil) OR heldUntil < :until',
          ExpressionAttributeValues: { ':until': Math.ceil(until), ...(throttled && { ':one': 1 }) },
        }),
      );
      return true;
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return false;
    }
  }

  /**
   * Takes in the limits the provider advertised on an answer (or a failure) for `model`, so that every instance
   * paces it by min(configured, advertised). Costs nothing unless they change what is enforced: then one
   * conditional write stores them on the model's record (a lower limit, or one restored up to or past the
   * configured one), which other instances pick up from their next reservation. Limits the configuration
   * leaves out stay unlimited, and so does a model without limits.
   * @example await limiter.observe('gpt-4o-mini', { requests: 60, tokens: 150_000 });
   */
  async observe(model: string, advertised: AdvertisedLimits): Promise<void> {
    const configured = this.#limits[model];
    if (configured === undefined) return;
    // The provider's window is full (its minute still holds calls made before a limit dropped, say): every
    // instance waits for it to free a request instead of being answered 429.
    if (advertised.remainingRequests === 0 && (advertised.resetRequestsMs ?? 0) > 0) {
      await this.#hold(model, this.#now() + (advertised.resetRequestsMs ?? 0));
    }
    const observed: Partial<Record<(typeof ADVERTISED)[keyof typeof ADVERTISED], number>> = {};
    const rpm = configured.rpm === undefined ? undefined : usableLimit(advertised.requests);
    const tpm = configured.tpm === undefined ? undefined : usableLimit(advertised.tokens);
    if (rpm !== undefined) observed.advertisedRpm = rpm;
    if (tpm !== undefined) observed.advertisedTpm = tpm;
    const fields = Object.entries(observed);
    if (fields.length === 0) return;
    const known = this.#known.get(model);
    const next: LimiterRecord = { ...known, ...observed };
    // An instance that has seen the record (every caller has: it reserved first) knows whether this changes what
    // is enforced; one that has not lets the write's condition decide.
    if (known !== undefined && sameLimits(effectiveLimits(configured, known), effectiveLimits(configured, next))) {
      return;
    }

    const values: Record<string, unknown> = { ':now': this.#now() };
    // The stored limit enforces something else: it is missing or another value where the observed one lowers the
    // configured limit, or lowers it where the observed one does not.
    const differs: string[] = [];
    for (const limit of ['rpm', 'tpm'] as const) {
      const attribute = ADVERTISED[limit];
      const value = observed[attribute];
      const ceiling = configured[limit];
      if (value === undefined || ceiling === undefined) continue;
      values[`:${attribute}`] = value;
      if (value < ceiling) {
        differs.push(`attribute_not_exists(${attribute}) OR ${attribute} <> :${attribute}`);
      } else {
        values[`:ceiling_${attribute}`] = ceiling;
        differs.push(`${attribute} < :ceiling_${attribute}`);
      }
    }
    try {
      const { Attributes } = await this.#client.send(
        new UpdateCommand({
          TableName: this.#tableName,
          Key: this.#key(model),
          UpdateExpression: `SET ${fields.map(([attribute]) => `${attribute} = :${attribute}`).join(', ')}, advertisedAt = :now`,
          // Another instance may have stored the same observation already: then there is nothing to write.
          ConditionExpression: differs.join(' OR '),
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      // Written only by this class.
      this.#learn(model, (Attributes ?? next) as LimiterRecord);
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // The record enforces these limits already; an emulator that does not return it leaves us our own view.
      this.#learn(model, error.Item ? (unmarshall(error.Item) as LimiterRecord) : next);
    }
  }

  /** The charges of a reservation under the effective limits of `record`. */
  #charges(configured: ModelLimits, record: LimiterRecord, tokens: number) {
    const limits = effectiveLimits(configured, record);
    const requests = limits.rpm === undefined ? undefined : gcraParameters(limits.rpm);
    const tokenParams = limits.tpm === undefined ? undefined : gcraParameters(limits.tpm, this.#largestCost);
    const charges: [attribute: 'tatRequests' | 'tatTokens', params: GcraParameters, cost: number][] = [];
    if (requests !== undefined) charges.push(['tatRequests', requests, 1]);
    if (tokenParams !== undefined) charges.push(['tatTokens', tokenParams, tokens]);
    return { charges, tokenParams };
  }

  /** Remembers the record as the model's current one, telling the listener when its effective limits moved. */
  #learn(model: string, record: LimiterRecord): void {
    const configured = this.#limits[model] ?? {};
    const from = effectiveLimits(configured, this.#known.get(model) ?? {});
    this.#known.set(model, record);
    const to = effectiveLimits(configured, record);
    if (sameLimits(from, to)) return;
    this.#listener?.({
      model,
      configured: { rpm: configured.rpm, tpm: configured.tpm },
      advertised: { rpm: record.advertisedRpm, tpm: record.advertisedTpm },
      from,
      to,
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
    return limitKey(model);
  }
}

/**
 * Conditions under which the record still advertises the limits `known` gave: for each configured limit, the
 * same lowered value, or (when none lowered it) none or one at least the configured value. A reservation paced
 * by stale limits then fails its condition and gets the current record back, instead of a separate read.
 */
function advertisedConditions(configured: ModelLimits, known: LimiterRecord, values: Record<string, unknown>) {
  const conditions: string[] = [];
  for (const limit of ['rpm', 'tpm'] as const) {
    const ceiling = configured[limit];
    if (ceiling === undefined) continue;
    const attribute = ADVERTISED[limit];
    const seen = known[attribute];
    if (seen !== undefined && seen < ceiling) {
      values[`:${attribute}`] = seen;
      conditions.push(`${attribute} = :${attribute}`);
    } else {
      values[`:ceiling_${attribute}`] = ceiling;
      conditions.push(`(attribute_not_exists(${attribute}) OR ${attribute} >= :ceiling_${attribute})`);
    }
  }
  return conditions;
}
