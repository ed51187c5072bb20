import type { AdvertisedLimits } from './provider-limits.ts';

/**
 * Every failure the stages can meet, classified once so the record processor knows what to do with it:
 * - `permanent`: dead-letter the item now (retrying cannot help and may cost money);
 * - `retryable`: count a real failed attempt, retry until the failure budget is spent;
 * - `deferred`: nothing failed, the item must wait (a lease held elsewhere, no time left in the invocation);
 *   the message comes back later and no attempt is counted.
 */
export type FailureKind = 'permanent' | 'retryable' | 'deferred';

/**
 * Base error of the sluice runtime. Every class names itself with a string literal (`override name = '...'`), never
 * with its identifier (`new.target.name`): the deployed bundles are minified, which renames classes, and the name is
 * the error class a dead letter records, what `sluice redrive --error-class` and the runbook match.
 */
export class SluiceError extends Error {
  override name = 'SluiceError';
  readonly kind: FailureKind;
  /** How long to wait before trying again, when the failure says (Retry-After, a limiter, a breaker). */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, kind: FailureKind, options?: { cause?: unknown; retryAfterMs?: number | undefined }) {
    super(message, options);
    this.kind = kind;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** The shared rate limiter has no room for this call yet: wait, do not fail. */
export class RateLimitedError extends SluiceError {
  override name = 'RateLimitedError';

  constructor(message: string, retryAfterMs: number, options?: { cause?: unknown }) {
    super(message, 'deferred', { ...options, retryAfterMs });
  }
}

/** A dependency's circuit breaker is open (or another caller is probing it): wait, do not fail. */
export class BreakerOpenError extends SluiceError {
  override name = 'BreakerOpenError';
  readonly dependency: string;

  constructor(dependency: string, retryAfterMs: number, options?: { cause?: unknown }) {
    super(`circuit breaker for ${dependency} is open`, 'deferred', { ...options, retryAfterMs });
    this.dependency = dependency;
  }
}

/** The day's LLM budget has no room for this call's worst case: wait for the next UTC day or a raised budget. */
export class BudgetExhaustedError extends SluiceError {
  override name = 'BudgetExhaustedError';

  constructor(message: string, retryAfterMs: number, options?: { cause?: unknown }) {
    super(message, 'deferred', { ...options, retryAfterMs });
  }
}

/** An item has waited (deferred) longer than allowed: it is dead-lettered rather than waiting forever unseen. */
export class DeferralLimitError extends SluiceError {
  override name = 'DeferralLimitError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'permanent', options);
  }
}

/** The intake message is not a valid item: dead-lettered at once, no LLM call. */
export class InvalidItemError extends SluiceError {
  override name = 'InvalidItemError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'permanent', options);
  }
}

/** Another invocation holds the item's lease (a duplicate delivery running at the same time). */
export class LeaseHeldError extends SluiceError {
  override name = 'LeaseHeldError';
  readonly itemId: string;

  constructor(itemId: string, options?: { cause?: unknown; retryAfterMs?: number | undefined }) {
    super(`item ${itemId} is being processed by another invocation`, 'deferred', options);
    this.itemId = itemId;
  }
}

/** Too little time is left in the invocation to start the next step safely. */
export class DeadlineError extends SluiceError {
  override name = 'DeadlineError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'deferred', options);
  }
}

/** The item is in a state this stage cannot act on (e.g. a draft message for an item never extracted). */
export class ItemStateError extends SluiceError {
  override name = 'ItemStateError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'permanent', options);
  }
}

/** A conditional write lost: the lease was taken over or the state moved under us. */
export class StateConflictError extends SluiceError {
  override name = 'StateConflictError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'deferred', options);
  }
}

/** The next LLM call could exceed the item's token budget. */
export class ItemBudgetExceededError extends SluiceError {
  override name = 'ItemBudgetExceededError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'permanent', options);
  }
}

/** The provider refused or failed a call. `status` is the HTTP status when there was a response. */
export class LlmCallError extends SluiceError {
  override name = 'LlmCallError';
  readonly status: number | undefined;
  /** The per-minute limits the provider advertised with the failure (notably with a 429), when it did. */
  readonly limits: AdvertisedLimits | undefined;

  constructor(
    message: string,
    details: {
      status?: number | undefined;
      retryAfterMs?: number | undefined;
      retryable: boolean;
      limits?: AdvertisedLimits | undefined;
    },
    options?: { cause?: unknown },
  ) {
    // A 429 is the provider's rate limit: waiting for it is not a failure of the item (invariant 5).
    const kind = details.status === 429 ? 'deferred' : details.retryable ? 'retryable' : 'permanent';
    super(message, kind, { ...options, retryAfterMs: details.retryAfterMs });
    this.status = details.status;
    this.limits = details.limits;
  }

  /** Whether the failure says something about the provider's health (what a circuit breaker counts). */
  get isProviderFailure(): boolean {
    return this.kind === 'retryable' && (this.status === undefined || this.status === 408 || this.status >= 500);
  }
}

/**
 * A simulated crash, raised only by chaos runs at a chosen point: it must not be handled by anything on its way
 * out, just as a real crash (out of memory, a killed process) is not. It is deliberately not a SluiceError.
 */
export class InjectedCrash extends Error {
  override name = 'InjectedCrash';
  readonly point: string;

  constructor(point: string) {
    super(`injected crash at ${point}`);
    this.point = point;
  }
}

/** The model answered, but not with output matching the schema (truncated, malformed, wrong shape). */
export class InvalidOutputError extends SluiceError {
  override name = 'InvalidOutputError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'retryable', options);
  }
}

/** How long an item waits before it tries the API key secret again (an operator has to act: no use hurrying). */
const SECRET_RETRY_MS = 60_000;

/**
 * The LLM API key secret cannot be read (deleted or scheduled for deletion, access denied, its KMS key unusable,
 * Secrets Manager unreachable) or holds no key. A configuration outage, not the item's fault: the item waits
 * (counted as the `SecretUnavailable` metric, which raises an alarm) and no attempt is spent; only the item's
 * deferral limit (`retry.maxDeferralHours`) ends the wait.
 */
export class SecretUnavailableError extends SluiceError {
  override name = 'SecretUnavailableError';
  readonly secretArn: string;
  /** `unreadable`: the read failed; `empty`: the secret was read but holds no key. */
  readonly reason: 'unreadable' | 'empty';

  constructor(
    secretArn: string,
    reason: 'unreadable' | 'empty',
    message: string,
    options?: { cause?: unknown; retryAfterMs?: number },
  ) {
    super(message, 'deferred', { cause: options?.cause, retryAfterMs: options?.retryAfterMs ?? SECRET_RETRY_MS });
    this.secretArn = secretArn;
    this.reason = reason;
  }
}

/** The memory store did not answer in time or failed; the draft goes ahead without history. */
export class MemoryUnavailableError extends SluiceError {
  override name = 'MemoryUnavailableError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'retryable', options);
  }
}

/** The function's environment or runtime config is wrong: fail at init, loudly. */
export class RuntimeConfigError extends SluiceError {
  override name = 'RuntimeConfigError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'permanent', options);
  }
}

/**
 * The error classes that are permanent whatever their details: a dead letter of one of these fails the same way
 * when redriven as it is. (An LlmCallError is permanent or not by its status; dead letters say which in their
 * `failureKind` attribute, which older ones lack.)
 */
export const PERMANENT_ERROR_CLASSES: readonly string[] = [
  'InvalidItemError',
  'ItemBudgetExceededError',
  'ItemStateError',
  'DeferralLimitError',
  'RuntimeConfigError',
];

/** How an unknown error is treated: anything we did not classify is worth a retry, and counts as an attempt. */
export function failureKindOf(error: unknown): FailureKind {
  return error instanceof SluiceError ? error.kind : 'retryable';
}

/** A short, log-safe description of any thrown value. */
export function describeError(error: unknown): { errorClass: string; message: string } {
  if (error instanceof Error) return { errorClass: error.name, message: error.message.slice(0, 1000) };
  return { errorClass: typeof error, message: String(error).slice(0, 1000) };
}

/**
 * A failure as log attributes, its text under `errorMessage` (the name the dead letters' attributes use). The
 * logger keeps `message` for the line's own text and drops an attribute of that name, so a failure spread into a
 * log line as it is would lose its text. Every log line that reports a failure goes through this, so the text is
 * always found under one key.
 * @example logger.warn('attempt failed', { itemId, ...failureLogFields(failure) })
 */
export function failureLogFields<T extends { message: string }>(
  failure: T,
): Omit<T, 'message'> & { errorMessage: string } {
  const { message, ...rest } = failure;
  return { ...rest, errorMessage: message };
}

/**
 * One line for any error, with its class name when that says more than the message (an SDK exception's name is
 * its AWS error code).
 * @example errorText(new ResourceNotFoundException({ message: 'no queue', $metadata: {} })) // 'ResourceNotFoundException: no queue'
 */
export function errorText(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const message = error.message || (typeof code === 'string' ? code : error.name);
    return error.name !== 'Error' && !message.startsWith(error.name) ? `${error.name}: ${message}` : message;
  }
  return String(error);
}
