import type { SimClock } from '../clock.ts';
import type { CallStage, SimResponse } from '../pipeline.ts';
import { formatResetDuration, GENEROUS_LIMITS, type RateLimitSnapshot, rateLimitHeaders } from '../rate-limits.ts';
import { SlidingWindow } from '../sliding-window.ts';
import type { AdmissionStats, FaultRecorder } from '../stats.ts';
import { type OpenAiErrorBody, openAiError } from '../wire.ts';
import type { ModelLimits, RateLimits } from './config.ts';

/**
 * Per-model RPM/TPM limits over sliding 60-second windows, answered as the provider answers them: a 429 with
 * its error body, `retry-after` and `x-ratelimit-*` headers. A call is admitted only if, counting it, the
 * window holds at most `rpm` requests and `tpm` tokens; rejected calls leave no trace in the window.
 */

/** Which limit a 429 is about, as in the provider's `error.type`. */
export type RateLimitType = 'requests' | 'tokens';

/** The decision on one call. */
export type Admission =
  | { readonly admitted: true; readonly headers: Record<string, string> }
  | {
      readonly admitted: false;
      readonly type: RateLimitType;
      /** Undefined when waiting cannot help: the call alone is larger than the token limit. */
      readonly retryAfterMs: number | undefined;
      readonly body: OpenAiErrorBody;
      readonly headers: Record<string, string>;
    };

const ORGANIZATION = 'org-sluice-simulator';
const RATE_LIMITS_URL = 'https://platform.openai.com/account/rate-limits';

/**
 * The limits and the admission windows of every model.
 * @example
 * const policy = new RateLimitPolicy({ rpm: 2 });
 * policy.admit('gpt-4o-mini', 100, 0).admitted; // true
 * policy.admit('gpt-4o-mini', 100, 1).admitted; // true
 * policy.admit('gpt-4o-mini', 100, 2).admitted; // false, until 60_000
 */
export class RateLimitPolicy {
  #limits: RateLimits;
  readonly #windows = new Map<string, SlidingWindow>();
  readonly #overall = new SlidingWindow();

  constructor(limits: RateLimits = {}) {
    this.#limits = limits;
  }

  /** Replaces the limits; the windows keep their history, so a lower limit bites at once. */
  setLimits(limits: RateLimits = {}): void {
    this.#limits = limits;
  }

  /** Whether answers carry the `x-ratelimit-*` headers. */
  get #advertise(): boolean {
    return this.#limits.advertise !== false;
  }

  /** The limits that apply to a model: its own entry, field by field over the shared ones. */
  limitsFor(model: string): ModelLimits {
    const own = this.#limits.perModel?.[model];
    return { rpm: own?.rpm ?? this.#limits.rpm, tpm: own?.tpm ?? this.#limits.tpm };
  }

  /** Admits a call of `tokens` (prompt + completion) at `now` and records it, or says why not. */
  admit(model: string, tokens: number, now: number): Admission {
    const { rpm, tpm } = this.limitsFor(model);
    const window = this.#windowOf(model);
    const requestsWait = rpm === undefined ? 0 : window.waitForCount(now, rpm - 1);
    const tooLarge = tpm !== undefined && tokens > tpm;
    const tokensWait = tpm === undefined || tooLarge ? 0 : window.waitForTokens(now, tpm - tokens);

    if (requestsWait === 0 && tokensWait === 0 && !tooLarge) {
      window.add(now, tokens);
      this.#overall.add(now, tokens);
      const advertised = this.#advertise ? rateLimitHeaders(this.#snapshot(window, rpm, tpm, tokens, now)) : {};
      return { admitted: true, headers: advertised };
    }

    const snapshot = this.#snapshot(window, rpm, tpm, tokens, now);
    const type: RateLimitType = requestsWait > 0 ? 'requests' : 'tokens';
    const retryAfterMs = tooLarge ? undefined : Math.max(requestsWait, tokensWait);
    const used = type === 'requests' ? window.count(now) : window.tokens(now);
    return {
      admitted: false,
      type,
      retryAfterMs,
      body: openAiError(
        rejectionMessage(model, type, { rpm, tpm, used, tokens, retryAfterMs }),
        type,
        null,
        'rate_limit_exceeded',
      ),
      headers: {
        ...(retryAfterMs === undefined ? {} : { 'retry-after': String(Math.ceil(retryAfterMs / 1000)) }),
        ...(retryAfterMs === undefined || !this.#advertise
          ? {}
          : { 'retry-after-ms': String(Math.ceil(retryAfterMs)) }),
        ...(this.#advertise ? rateLimitHeaders(snapshot) : {}),
      },
    };
  }

  /** Admission counts and the busiest windows so far, per model and overall. */
  stats(): AdmissionStats {
    const stats: AdmissionStats = {
      admitted: this.#overall.admitted,
      admittedByModel: {},
      maxRpmInAnyWindow: this.#overall.maxRequests,
      maxTpmInAnyWindow: this.#overall.maxTokens,
      maxRpmInAnyWindowByModel: {},
      maxTpmInAnyWindowByModel: {},
    };
    for (const [model, window] of this.#windows) {
      stats.admittedByModel[model] = window.admitted;
      stats.maxRpmInAnyWindowByModel[model] = window.maxRequests;
      stats.maxTpmInAnyWindowByModel[model] = window.maxTokens;
    }
    return stats;
  }

  #windowOf(model: string): SlidingWindow {
    let window = this.#windows.get(model);
    if (window === undefined) {
      window = new SlidingWindow();
      this.#windows.set(model, window);
    }
    return window;
  }

  #snapshot(
    window: SlidingWindow,
    rpm: number | undefined,
    tpm: number | undefined,
    tokens: number,
    now: number,
  ): RateLimitSnapshot {
    const limitRequests = rpm ?? GENEROUS_LIMITS.requestsPerMinute;
    const limitTokens = tpm ?? GENEROUS_LIMITS.tokensPerMinute;
    return {
      limitRequests,
      limitTokens,
      remainingRequests: Math.max(0, limitRequests - window.count(now)),
      remainingTokens: Math.max(0, limitTokens - window.tokens(now)),
      resetRequestsMs: window.waitForCount(now, limitRequests - 1),
      // A call larger than the limit never fits; the most useful figure is when the window is empty again.
      resetTokensMs: window.waitForTokens(now, Math.max(0, limitTokens - tokens)),
    };
  }
}

function rejectionMessage(
  model: string,
  type: RateLimitType,
  figures: { rpm?: number; tpm?: number; used: number; tokens: number; retryAfterMs: number | undefined },
): string {
  const { rpm, tpm, used, tokens, retryAfterMs } = figures;
  if (retryAfterMs === undefined) {
    return `Request too large for ${model} in organization ${ORGANIZATION} on tokens per min (TPM): Limit ${tpm}, Requested ${tokens}. The input or output tokens must be reduced in order to run successfully. Visit ${RATE_LIMITS_URL} to learn more.`;
  }
  const limit =
    type === 'requests'
      ? `requests per min (RPM): Limit ${rpm}, Used ${used}, Requested 1.`
      : `tokens per min (TPM): Limit ${tpm}, Used ${used}, Requested ${tokens}.`;
  return `Rate limit reached for ${model} in organization ${ORGANIZATION} on ${limit} Please try again in ${formatResetDuration(retryAfterMs)}. Visit ${RATE_LIMITS_URL} to learn more.`;
}

/**
 * Answers 429 when the call's model is over its limits, at once (without the model's latency); otherwise
 * admits the call, counting its prompt and planned completion tokens, and adds the window's headers to the answer.
 * @example composeStages([rateLimitStage(policy, clock, stats), latencyStage(next)], handler)
 */
export function rateLimitStage(policy: RateLimitPolicy, clock: SimClock, recorder: FaultRecorder): CallStage {
  return async (call, next) => {
    const tokens = call.promptTokens + call.answer().completionTokens;
    const admission = policy.admit(call.request.model, tokens, clock.now());
    if (!admission.admitted) {
      recorder.rateLimited(admission.type);
      const response: SimResponse = { status: 429, body: admission.body, headers: admission.headers };
      return response;
    }
    const response = await next();
    return { ...response, headers: { ...admission.headers, ...response.headers } };
  };
}
