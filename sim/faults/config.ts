import type { ZodError } from 'zod';
import * as z from 'zod';
import type { LatencySpec } from '../latency.ts';

/**
 * What can go wrong at the simulated provider, as one typed, validated object: rate limits, injected error
 * statuses, hangs, malformed output, outages and latency. The same schema checks the `faults` option, every
 * `configure()` call and the body of `POST /_sim/faults`, so all three reject the same mistakes the same way.
 */

/** How an outage fails calls: 503 at once, or never answering. */
export type OutageMode = 'error' | 'hang';

/** An outage in the simulator's own time: from `startMs` (inclusive) to `endMs` (exclusive) after it started. */
export interface OutageWindow {
  readonly startMs: number;
  readonly endMs: number;
  readonly mode: OutageMode;
}

/** Limits of one model; a limit left out is not enforced. */
export interface ModelLimits {
  /** Requests admitted in any sliding 60-second window. */
  readonly rpm?: number;
  /** Tokens admitted in any sliding 60-second window, counted as `tokenCounting` says. */
  readonly tpm?: number;
  /** Requests admitted in any sliding 24-hour window. */
  readonly rpd?: number;
}

/**
 * How the provider counts a request's tokens against `tpm`, when it admits the request:
 * - `admission`: its prompt estimate plus `max_tokens` (only the prompt when the request sets none), whatever the
 *   answer then uses. OpenAI documents that requests are counted when admitted, by `max_tokens` and the prompt
 *   estimate; Azure OpenAI documents the sum.
 * - `admission-max`: the larger of the prompt estimate and `max_tokens` (the wording of OpenAI's guide).
 * - `usage`: the prompt plus the completion the answer really has.
 */
export type TokenCounting = 'admission' | 'admission-max' | 'usage';

/**
 * The rate-limit headers the provider sends with every answer and 429:
 * - `openai`: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` per minute, resets as durations (`1.5s`),
 *   and `retry-after` / `retry-after-ms` on a 429.
 * - `openai-rpd`: the same names, but the `-requests` ones describe requests per *day* (as some
 *   OpenAI-compatible providers send them); the `-tokens` ones stay per minute.
 * - `anthropic`: `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}` per minute, resets as RFC 3339
 *   times when the limit is full again, and `retry-after` in seconds on a 429.
 * - `none`: no rate-limit headers; a 429 says only `retry-after`, in whole seconds.
 */
export type RateLimitHeaders = 'openai' | 'openai-rpd' | 'anthropic' | 'none';

/** Limits every model gets on its own windows; `perModel` entries override them one field at a time. */
export interface RateLimits extends ModelLimits {
  readonly perModel?: Readonly<Record<string, ModelLimits>>;
  /** @default 'admission' */
  readonly tokenCounting?: TokenCounting;
  /** @default 'openai' */
  readonly headers?: RateLimitHeaders;
}

/** Faults of the simulated provider; every field is optional, and absent means "no such fault". */
export interface SimulatorFaults {
  readonly limits?: RateLimits;
  /** Probability of answering each HTTP status (400-599) instead of the completion; they sum to at most 1. */
  readonly errorRates?: Readonly<Record<number, number>>;
  /** Probability that a call never answers (until the client gives up or the simulator stops). */
  readonly hangRate?: number;
  /** Probability of a 200 whose content breaks the requested JSON schema. */
  readonly malformedRate?: number;
  /** Outages at fixed times after the simulator started. */
  readonly outages?: readonly OutageWindow[];
  /** An outage switched on now (until switched off with `null`), on top of the scheduled ones. */
  readonly outage?: { readonly mode: OutageMode } | null;
  /** Latency of each call; replaces the `latencyMs` option. */
  readonly latency?: LatencySpec;
}

const duration = z.number().finite().min(0);
const probability = z.number().min(0).max(1);
const limit = z.number().int().min(1);
const modelLimitsSchema = z.strictObject({ rpm: limit.optional(), tpm: limit.optional(), rpd: limit.optional() });
const outageModeSchema = z.enum(['error', 'hang']);

const latencySchema = z.union(
  [
    duration,
    z.strictObject({ minMs: duration, maxMs: duration }).refine((range) => range.maxMs >= range.minMs, {
      message: 'maxMs must not be less than minMs',
      path: ['maxMs'],
    }),
    z
      .strictObject({ distribution: z.literal('lognormal'), medianMs: z.number().finite().gt(0), p99Ms: duration })
      .refine((spec) => spec.p99Ms >= spec.medianMs, {
        message: 'p99Ms must not be less than medianMs',
        path: ['p99Ms'],
      }),
  ],
  { error: "expected milliseconds, { minMs, maxMs } or { distribution: 'lognormal', medianMs, p99Ms }" },
);

/**
 * The schema of `SimulatorFaults`, for options, `configure()` and `POST /_sim/faults` alike.
 * @example simulatorFaultsSchema.safeParse({ hangRate: 2 }).success // false
 */
const simulatorFaultsSchema = z.strictObject({
  limits: z
    .strictObject({
      rpm: limit.optional(),
      tpm: limit.optional(),
      rpd: limit.optional(),
      perModel: z.record(z.string().min(1), modelLimitsSchema).optional(),
      tokenCounting: z.enum(['admission', 'admission-max', 'usage']).optional(),
      headers: z.enum(['openai', 'openai-rpd', 'anthropic', 'none']).optional(),
    })
    .optional(),
  errorRates: z
    .record(z.string().regex(/^[45]\d\d$/, 'status must be an HTTP error status from 400 to 599'), probability)
    .refine((rates) => Object.values(rates).reduce((sum, rate) => sum + rate, 0) <= 1 + 1e-9, {
      message: 'error rates must add up to at most 1',
    })
    .optional(),
  hangRate: probability.optional(),
  malformedRate: probability.optional(),
  outages: z
    .array(
      z
        .strictObject({ startMs: duration, endMs: duration, mode: outageModeSchema })
        .refine((window) => window.endMs > window.startMs, { message: 'endMs must be after startMs', path: ['endMs'] }),
    )
    .optional(),
  outage: z.strictObject({ mode: outageModeSchema }).nullable().optional(),
  latency: latencySchema.optional(),
}) satisfies z.ZodType<SimulatorFaults>;

/**
 * A faults object that failed validation, naming the first bad field.
 * @example if (error instanceof FaultConfigError) console.error(error.field) // 'outages[0].endMs'
 */
export class FaultConfigError extends Error {
  override readonly name = 'FaultConfigError';
  /** The offending field, e.g. `limits.rpm` or `errorRates.700`. */
  readonly field: string;

  constructor(field: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.field = field;
  }
}

/**
 * Validates a faults object from code or from the wire.
 * @example parseFaults({ limits: { rpm: 60 }, errorRates: { 503: 0.01 } })
 * @throws FaultConfigError naming the first bad field
 */
export function parseFaults(input: unknown): SimulatorFaults {
  const parsed = simulatorFaultsSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw toConfigError(parsed.error);
}

function toConfigError(error: ZodError): FaultConfigError {
  const issue = error.issues[0];
  if (issue === undefined) return new FaultConfigError('', 'Invalid faults.', { cause: error });
  const path = [...issue.path];
  let message = issue.message;
  // An unknown key is reported on its parent; naming the key itself is what helps a caller with a typo.
  if (issue.code === 'unrecognized_keys' && issue.keys[0] !== undefined) path.push(issue.keys[0]);
  if (issue.code === 'invalid_key') message = issue.issues[0]?.message ?? message;
  const field = formatField(path);
  return new FaultConfigError(field, `Invalid '${field || 'faults'}': ${message}.`, { cause: error });
}

/** `['outages', 0, 'endMs']` → `outages[0].endMs`, as the wire schema names request parameters. */
function formatField(path: readonly PropertyKey[]): string {
  return path.reduce<string>((name, segment) => {
    if (typeof segment === 'number') return `${name}[${segment}]`;
    return name.length === 0 ? String(segment) : `${name}.${String(segment)}`;
  }, '');
}

/**
 * Applies an update: each field given replaces the current one, fields left out stay as they are.
 * @example mergeFaults({ limits: { rpm: 60 } }, { hangRate: 0.1 }) // { limits: { rpm: 60 }, hangRate: 0.1 }
 */
export function mergeFaults(current: SimulatorFaults, update: SimulatorFaults): SimulatorFaults {
  // Dropping the undefined entries of a SimulatorFaults leaves a SimulatorFaults; entries() loses the key types.
  const given = Object.fromEntries(
    Object.entries(update).filter(([, value]) => value !== undefined),
  ) as SimulatorFaults;
  return { ...current, ...given };
}
