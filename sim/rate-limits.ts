/**
 * The `x-ratelimit-*` headers a provider sends with every completion, written from a snapshot of the
 * rate-limit windows (see `faults/rate-limit.ts`). A limit that is not configured is reported as the
 * generous figures below, which a run never reaches.
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
}

/** Per-minute limits reported for a limit that is not enforced. */
export const GENEROUS_LIMITS = { requestsPerMinute: 10_000, tokensPerMinute: 10_000_000 } as const;

/**
 * The headers for a snapshot, with durations written as the provider writes them ("6ms", "1s", "6m0s").
 * @example rateLimitHeaders(snapshot)['x-ratelimit-reset-requests'] // '6ms', '1.5s', '1m0s'
 */
export function rateLimitHeaders(snapshot: RateLimitSnapshot): Record<string, string> {
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
