/**
 * How a provider counts calls against its rate limits, and what it says about them.
 *
 * What a provider says about its rate limits in the headers of every answer is read in the dialect it speaks.
 * Providers differ, and reading one dialect as another is worse than reading nothing:
 * - `openai`: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, per-minute limits, resets as durations
 *   (`6ms`, `1.5s`, `6m0s`).
 * - `openai-rpd`: the same header names, but the `-requests` ones count requests per *day* (as some
 *   OpenAI-compatible providers send them); the `-tokens` ones are per minute. A daily request limit is never
 *   taken for a per-minute one; its `remaining-requests: 0` still holds calls until its reset.
 * - `anthropic`: `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`, per-minute limits, resets as
 *   RFC 3339 times at which the limit is fully replenished (a token bucket, refilled continuously).
 * - `none`: the headers are ignored; only a 429's `retry-after` is honoured.
 *
 * Written by hand: the header families are provider conventions with no common library.
 */

/** How a provider counts a request's tokens against its TPM limit. */
export const TOKEN_COUNTINGS = ['admission', 'admission-max', 'usage'] as const;
export type TokenCounting = (typeof TOKEN_COUNTINGS)[number];

/** The tokens a call may take, as known before it is sent. */
export interface TokenRequest {
  /** The estimated prompt tokens (an estimate at least the provider's own). */
  promptTokens: number;
  /** The `max_tokens` the call is sent with. */
  maxTokens: number;
}

/**
 * The tokens a provider counting in `counting` charges a request when it admits it: for `usage` the worst case,
 * which the answer's usage then settles.
 * @example tokenCharge('admission', { promptTokens: 900, maxTokens: 2048 }) // 2948
 * @example tokenCharge('admission-max', { promptTokens: 900, maxTokens: 2048 }) // 2048
 */
export function tokenCharge(counting: TokenCounting, request: TokenRequest): number {
  const prompt = Math.max(0, Math.ceil(request.promptTokens));
  const output = Math.max(0, Math.ceil(request.maxTokens));
  return counting === 'admission-max' ? Math.max(prompt, output) : prompt + output;
}

export const RATE_LIMIT_DIALECTS = ['openai', 'openai-rpd', 'anthropic', 'none'] as const;
export type RateLimitDialect = (typeof RATE_LIMIT_DIALECTS)[number];

/**
 * The per-minute limits a provider advertised on one answer, in the one form the rate limiter reads, whatever
 * the dialect: they can be lower than the configured ones, and change without notice.
 */
export interface AdvertisedLimits {
  /** Requests per minute. */
  requests?: number | undefined;
  /** Tokens per minute. */
  tokens?: number | undefined;
  /** Requests the provider still takes before its window frees one. */
  remainingRequests?: number | undefined;
  /** How long until it takes a request again, in milliseconds. */
  resetRequestsMs?: number | undefined;
}

/** Longest a per-minute window can take to free a request; a later reset belongs to a longer window. */
const MINUTE_MS = 60_000;

/** A header lookup over the SDK's `Headers` or a plain record (the simulator's, a test's). */
type HeaderSource = Headers | Readonly<Record<string, string>>;

function header(headers: HeaderSource, name: string): string | null {
  if (headers instanceof Headers) return headers.get(name);
  return headers[name] ?? headers[name.toLowerCase()] ?? null;
}

/**
 * The limits advertised in `headers`, read in `dialect`; a header that is absent or not a positive number is left
 * out, and undefined means nothing usable was advertised.
 * @example advertisedLimits(new Headers({ 'x-ratelimit-limit-requests': '60' }), 'openai') // { requests: 60 }
 * @example advertisedLimits(new Headers({ 'x-ratelimit-limit-requests': '14400' }), 'openai-rpd') // undefined
 */
export function advertisedLimits(
  headers: HeaderSource | undefined,
  dialect: RateLimitDialect = 'openai',
  now: number = Date.now(),
): AdvertisedLimits | undefined {
  if (headers === undefined || dialect === 'none') return undefined;
  const read = dialect === 'anthropic' ? readAnthropic(headers, now) : readOpenAi(headers, dialect);
  const entries = Object.entries(read).filter(([, value]) => value !== undefined);
  return entries.length === 0 ? undefined : (Object.fromEntries(entries) as AdvertisedLimits);
}

function readOpenAi(headers: HeaderSource, dialect: 'openai' | 'openai-rpd'): AdvertisedLimits {
  const resetRequestsMs = parseDuration(header(headers, 'x-ratelimit-reset-requests'));
  const remainingRequests = wholeNumber(header(headers, 'x-ratelimit-remaining-requests'));
  // A request limit whose window frees a request more than a minute ahead is not a per-minute limit, whatever the
  // dialect was configured as: following it as one would pace a daily quota as if it came back every minute.
  const perMinute = dialect === 'openai' && (resetRequestsMs === undefined || resetRequestsMs <= MINUTE_MS);
  return {
    requests: perMinute ? positiveNumber(header(headers, 'x-ratelimit-limit-requests')) : undefined,
    tokens: positiveNumber(header(headers, 'x-ratelimit-limit-tokens')),
    remainingRequests,
    resetRequestsMs,
  };
}

function readAnthropic(headers: HeaderSource, now: number): AdvertisedLimits {
  const requests = positiveNumber(header(headers, 'anthropic-ratelimit-requests-limit'));
  const remainingRequests = wholeNumber(header(headers, 'anthropic-ratelimit-requests-remaining'));
  const replenishedAt = Date.parse(header(headers, 'anthropic-ratelimit-requests-reset') ?? '');
  // The reset is when the bucket is full again; it refills continuously, so one request comes back after the
  // time one request is worth, or at the reset if that is sooner.
  const untilFull = Number.isFinite(replenishedAt) ? Math.max(0, replenishedAt - now) : undefined;
  const oneRequest = requests === undefined ? undefined : MINUTE_MS / requests;
  const resetRequestsMs =
    untilFull === undefined ? oneRequest : oneRequest === undefined ? untilFull : Math.min(untilFull, oneRequest);
  return {
    requests,
    // The most restrictive token limit in force (input or output).
    tokens: positiveNumber(header(headers, 'anthropic-ratelimit-tokens-limit')),
    remainingRequests,
    resetRequestsMs: resetRequestsMs === undefined ? undefined : Math.ceil(resetRequestsMs),
  };
}

function positiveNumber(text: string | null): number | undefined {
  if (text === null || text.trim() === '') return undefined;
  const value = Number(text);
  return Number.isFinite(value) && value > 0 ? value : undefined;
}

function wholeNumber(text: string | null): number | undefined {
  if (text === null || text.trim() === '') return undefined;
  const value = Number(text);
  return Number.isFinite(value) && value >= 0 ? value : undefined;
}

/**
 * Parses OpenAI's reset durations such as `1s`, `6m0s`, `1h2m3.5s` or `20ms`.
 * @example parseDuration('1m30.5s') // 90_500
 */
export function parseDuration(text: string | null): number | undefined {
  if (text === null || text.trim() === '') return undefined;
  const pattern = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let total = 0;
  let consumed = 0;
  for (const match of text.matchAll(pattern)) {
    const value = Number(match[1]);
    const unit = match[2];
    total += unit === 'h' ? value * 3_600_000 : unit === 'm' ? value * 60_000 : unit === 's' ? value * 1000 : value;
    consumed += match[0].length;
  }
  return consumed === text.trim().length && consumed > 0 ? total : undefined;
}
