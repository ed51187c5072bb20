import { type ZodError, z } from 'zod';
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

/** Per-minute limits of one model; a limit left out is not enforced. */
export interface ModelLimits {
  /** Requests admitted in any sliding 60-second window. */
  readonly rpm?: number;
  /** Prompt plus completion tokens admitted in any sliding 60-second window. */
  readonly tpm?: number;
}

/** Limits every model gets on its own windows; `perModel` entries override them one field at a time. */
export interface RateLimits extends ModelLimits {
  readonly perModel?: Readonly<Record<string, ModelLimits>>;
  /**
   * Whether answers carry the `x-ratelimit-*` headers (OpenAI's do; many OpenAI-compatible servers send none, and
   * a 429 then says only `retry-after`).
   * @default true
   */
  readonly advertise?: boolean;
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
const modelLimitsSchema = z.strictObject({ rpm: limit.optional(), tpm: limit.optional() });
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
export const simulatorFaultsSchema = z.strictObject({
  limits: z
    .strictObject({
      rpm: limit.optional(),
      tpm: limit.optional(),
      perModel: z.record(z.string().min(1), modelLimitsSchema).optional(),
      advertise: z.boolean().optional(),
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
