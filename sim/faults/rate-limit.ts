import type { SimClock } from '../clock.ts';
import type { CallStage, SimResponse } from '../pipeline.ts';
import { formatResetDuration, GENEROUS_LIMITS, type RateLimitSnapshot, rateLimitHeaders } from '../rate-limits.ts';
import { SlidingWindow } from '../sliding-window.ts';
import type { AdmissionStats, FaultRecorder } from '../stats.ts';
import { type OpenAiErrorBody, openAiError } from '../wire.ts';
import type { ModelLimits, RateLimitHeaders, RateLimits, TokenCounting } from './config.ts';

/**
 * Per-model RPM/TPM (and RPD) limits over sliding windows, answered as the provider answers them: a 429 with its
 * error body, `retry-after` and the rate-limit headers of the dialect it speaks. A call is admitted only if,
 * counting it, the window holds at most `rpm` requests and `tpm` tokens, its tokens counted as the provider's
 * `tokenCounting` says (by default at admission: the prompt estimate plus `max_tokens`, nothing given back);
 * rejected calls leave no trace in the window.
 */

/** A call's tokens as far as a provider's counting cares. */
export interface TokenFigures {
  /** The provider's estimate of the prompt. */
  promptTokens: number;
  /** The `max_tokens` of the request, if it set one. */
  maxCompletionTokens: number | undefined;
  /** The completion the answer will have (read only when the provider counts usage). */
  completionTokens: () => number;
}

/**
 * The tokens a provider counting in `counting` charges a call when it admits it.
 * @example chargedTokens('admission', { promptTokens: 900, maxCompletionTokens: 2048, completionTokens: () => 300 }) // 2948
 */
function chargedTokens(counting: TokenCounting, figures: TokenFigures): number {
  const maxCompletion = figures.maxCompletionTokens ?? 0;
  if (counting === 'admission') return figures.promptTokens + maxCompletion;
  if (counting === 'admission-max') return Math.max(figures.promptTokens, maxCompletion);
  return figures.promptTokens + figures.completionTokens();
}

const DAY_MS = 86_400_000;

/** Which limit a 429 is about, as in the provider's `error.type`. */
export type RateLimitType = 'requests' | 'tokens';

/** The decision on one call. */
export type Admission =
  | {
      readonly admitted: true;
      /** Tokens the provider charged the call against its TPM limit. */
      readonly tokens: number;
      readonly headers: Record<string, string>;
    }
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
  readonly #days = new Map<string, SlidingWindow>();
  readonly #overall = new SlidingWindow();

  constructor(limits: RateLimits = {}) {
    this.#limits = limits;
  }

  /** Replaces the limits; the windows keep their history, so a lower limit bites at once. */
  setLimits(limits: RateLimits = {}): void {
    this.#limits = limits;
  }

  /** The headers the provider speaks. */
  get #dialect(): RateLimitHeaders {
    return this.#limits.headers ?? 'openai';
  }

  /** How the provider counts tokens against its TPM limits. */
  get tokenCounting(): TokenCounting {
    return this.#limits.tokenCounting ?? 'admission';
  }

  /** The limits that apply to a model: its own entry, field by field over the shared ones. */
  limitsFor(model: string): ModelLimits {
    const own = this.#limits.perModel?.[model];
    return { rpm: own?.rpm ?? this.#limits.rpm, tpm: own?.tpm ?? this.#limits.tpm, rpd: own?.rpd ?? this.#limits.rpd };
  }

  /**
   * Admits a call at `now` and records it, or says why not; `figures` are counted as the provider counts them,
   * or a number is taken as the call's charge itself.
   */
  admit(model: string, figures: TokenFigures | number, now: number): Admission {
    const tokens = typeof figures === 'number' ? figures : chargedTokens(this.tokenCounting, figures);
    const { rpm, tpm, rpd } = this.limitsFor(model);
    const window = this.#windowOf(this.#windows, model, undefined);
    const day = this.#windowOf(this.#days, model, DAY_MS);
    const requestsWait = Math.max(
      rpm === undefined ? 0 : window.waitForCount(now, rpm - 1),
      rpd === undefined ? 0 : day.waitForCount(now, rpd - 1),
    );
    const perDay = rpd !== undefined && day.waitForCount(now, rpd - 1) > 0;
    const tooLarge = tpm !== undefined && tokens > tpm;
    const tokensWait = tpm === undefined || tooLarge ? 0 : window.waitForTokens(now, tpm - tokens);

    if (requestsWait === 0 && tokensWait === 0 && !tooLarge) {
      window.add(now, tokens);
      // The day's log only when something reads it: it holds a day of calls.
      if (rpd !== undefined || this.#dialect === 'openai-rpd') day.add(now, 0);
      this.#overall.add(now, tokens);
      const snapshot = this.#snapshot(window, day, { rpm, tpm, rpd }, tokens, now);
      return { admitted: true, tokens, headers: rateLimitHeaders(snapshot, this.#dialect, now) };
    }

    const snapshot = this.#snapshot(window, day, { rpm, tpm, rpd }, tokens, now);
    const type: RateLimitType = requestsWait > 0 ? 'requests' : 'tokens';
    const retryAfterMs = tooLarge ? undefined : Math.max(requestsWait, tokensWait);
    const used = type === 'requests' ? (perDay ? day.count(now) : window.count(now)) : window.tokens(now);
    const preciseRetry = this.#dialect === 'openai' || this.#dialect === 'openai-rpd';
    return {
      admitted: false,
      type,
      retryAfterMs,
      body: openAiError(
        rejectionMessage(model, type, { rpm: perDay ? rpd : rpm, tpm, used, tokens, retryAfterMs, perDay }),
        type,
        null,
        'rate_limit_exceeded',
      ),
      headers: {
        ...(retryAfterMs === undefined ? {} : { 'retry-after': String(Math.ceil(retryAfterMs / 1000)) }),
        ...(retryAfterMs === undefined || !preciseRetry ? {} : { 'retry-after-ms': String(Math.ceil(retryAfterMs)) }),
        ...rateLimitHeaders(snapshot, this.#dialect, now),
      },
    };
  }

  /** Admission counts and the busiest windows so far, per model and overall, in tokens as the provider counts them. */
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

  #windowOf(windows: Map<string, SlidingWindow>, model: string, lengthMs: number | undefined): SlidingWindow {
    let window = windows.get(model);
    if (window === undefined) {
      window = new SlidingWindow(lengthMs);
      windows.set(model, window);
    }
    return window;
  }

  #snapshot(
    window: SlidingWindow,
    day: SlidingWindow,
    limits: ModelLimits,
    tokens: number,
    now: number,
  ): RateLimitSnapshot {
    // A provider speaking `openai-rpd` reports its day's requests under the request headers.
    const daily = this.#dialect === 'openai-rpd';
    const requests = daily ? day : window;
    const limitRequests = daily
      ? (limits.rpd ?? GENEROUS_LIMITS.requestsPerDay)
      : (limits.rpm ?? GENEROUS_LIMITS.requestsPerMinute);
    const limitTokens = limits.tpm ?? GENEROUS_LIMITS.tokensPerMinute;
    return {
      limitRequests,
      limitTokens,
      remainingRequests: Math.max(0, limitRequests - requests.count(now)),
      remainingTokens: Math.max(0, limitTokens - window.tokens(now)),
      resetRequestsMs: requests.waitForCount(now, limitRequests - 1),
      // A call larger than the limit never fits; the most useful figure is when the window is empty again.
      resetTokensMs: window.waitForTokens(now, Math.max(0, limitTokens - tokens)),
      fullRequestsMs: requests.waitForCount(now, 0),
      fullTokensMs: window.waitForTokens(now, 0),
    };
  }
}

function rejectionMessage(
  model: string,
  type: RateLimitType,
  figures: {
    rpm?: number | undefined;
    tpm?: number | undefined;
    used: number;
    tokens: number;
    retryAfterMs: number | undefined;
    perDay: boolean;
  },
): string {
  const { rpm, tpm, used, tokens, retryAfterMs, perDay } = figures;
  if (retryAfterMs === undefined) {
    return `Request too large for ${model} in organization ${ORGANIZATION} on tokens per min (TPM): Limit ${tpm}, Requested ${tokens}. The input or output tokens must be reduced in order to run successfully. Visit ${RATE_LIMITS_URL} to learn more.`;
  }
  const limit =
    type === 'requests'
      ? `requests per ${perDay ? 'day (RPD)' : 'min (RPM)'}: Limit ${rpm}, Used ${used}, Requested 1.`
      : `tokens per min (TPM): Limit ${tpm}, Used ${used}, Requested ${tokens}.`;
  return `Rate limit reached for ${model} in organization ${ORGANIZATION} on ${limit} Please try again in ${formatResetDuration(retryAfterMs)}. Visit ${RATE_LIMITS_URL} to learn more.`;
}

/**
 * Answers 429 when the call's model is over its limits, at once (without the model's latency); otherwise
 * admits the call, counting its tokens as the provider counts them, and adds the window's headers to the answer.
 * @example composeStages([rateLimitStage(policy, clock, stats), latencyStage(next)], handler)
 */
export function rateLimitStage(policy: RateLimitPolicy, clock: SimClock, recorder: FaultRecorder): CallStage {
  return async (call, next) => {
    const admission = policy.admit(
      call.request.model,
      {
        promptTokens: call.promptTokens,
        maxCompletionTokens: call.maxCompletionTokens,
        completionTokens: () => call.answer().completionTokens,
      },
      clock.now(),
    );
    if (!admission.admitted) {
      recorder.rateLimited(admission.type);
      const response: SimResponse = { status: 429, body: admission.body, headers: admission.headers };
      return response;
    }
    const response = await next();
    return { ...response, chargedTokens: admission.tokens, headers: { ...admission.headers, ...response.headers } };
  };
}
