import type { RateLimitHeaders } from './faults/config.ts';

/**
 * The rate-limit headers a provider sends with every completion, written from a snapshot of the rate-limit
 * windows (see `faults/rate-limit.ts`) in the dialect the simulated provider speaks (`RateLimitHeaders`). A limit
 * that is not configured is reported as the generous figures below, which a run never reaches.
 */

export interface RateLimitSnapshot {
  limitRequests: number;
  limitTokens: number;
  remainingRequests: number;
  remainingTokens: number;
  /** Time until the window admits another request. */
  resetRequestsMs: number;
  /** Time until the window admits another request of this size. */
  resetTokensMs: number;
  /** Time until the request window is empty again (what Anthropic's reset says). */
  fullRequestsMs: number;
  /** Time until the token window is empty again. */
  fullTokensMs: number;
}

/** Limits reported for a limit that is not enforced. */
export const GENEROUS_LIMITS = {
  requestsPerMinute: 10_000,
  tokensPerMinute: 10_000_000,
  requestsPerDay: 14_400_000,
} as const;

/**
 * The headers for a snapshot in `dialect`: OpenAI's durations ("6ms", "1s", "6m0s"), or Anthropic's RFC 3339
 * times; none for `none`. For `openai-rpd` the snapshot's request figures are the day's.
 * @example rateLimitHeaders(snapshot, 'openai', now)['x-ratelimit-reset-requests'] // '6ms', '1.5s', '1m0s'
 */
export function rateLimitHeaders(
  snapshot: RateLimitSnapshot,
  dialect: RateLimitHeaders = 'openai',
  now = 0,
): Record<string, string> {
  if (dialect === 'none') return {};
  if (dialect === 'anthropic') {
    // Whole seconds, rounded up: a reset read back never comes earlier than the window frees.
    const at = (ms: number) =>
      new Date(Math.ceil((now + Math.max(0, ms)) / 1000) * 1000).toISOString().replace('.000Z', 'Z');
    return {
      'anthropic-ratelimit-requests-limit': String(snapshot.limitRequests),
      'anthropic-ratelimit-requests-remaining': String(snapshot.remainingRequests),
      'anthropic-ratelimit-requests-reset': at(snapshot.fullRequestsMs),
      'anthropic-ratelimit-tokens-limit': String(snapshot.limitTokens),
      'anthropic-ratelimit-tokens-remaining': String(snapshot.remainingTokens),
      'anthropic-ratelimit-tokens-reset': at(snapshot.fullTokensMs),
    };
  }
  return {
    'x-ratelimit-limit-requests': String(snapshot.limitRequests),
    'x-ratelimit-limit-tokens': String(snapshot.limitTokens),
    'x-ratelimit-remaining-requests': String(snapshot.remainingRequests),
    'x-ratelimit-remaining-tokens': String(snapshot.remainingTokens),
    'x-ratelimit-reset-requests': formatResetDuration(snapshot.resetRequestsMs),
    'x-ratelimit-reset-tokens': formatResetDuration(snapshot.resetTokensMs),
  };
}

/**
 * A duration in the provider's header format.
 * @example formatResetDuration(90_500) // '1m30.5s'
 */
export function formatResetDuration(ms: number): string {
  const whole = Math.max(0, Math.ceil(ms));
  if (whole < 1000) return `${whole}ms`;
  const minutes = Math.floor(whole / 60_000);
  const seconds = Number(((whole % 60_000) / 1000).toFixed(3));
  return minutes > 0 ? `${minutes}m${seconds}s` : `${seconds}s`;
}
