/**
 * The `x-ratelimit-*` headers a provider sends with every completion. For now the simulator reports
 * generous limits that a run never reaches; enforcing limits means computing a snapshot from sliding
 * windows instead of `generousSnapshot`, and the headers stay the same.
 */

export interface RateLimitSnapshot {
  limitRequests: number;
  limitTokens: number;
  remainingRequests: number;
  remainingTokens: number;
  /** Time until the request budget is fully replenished. */
  resetRequestsMs: number;
  /** Time until the token budget is fully replenished. */
  resetTokensMs: number;
}

/** Per-minute limits reported while none are enforced. */
export const GENEROUS_LIMITS = { requestsPerMinute: 10_000, tokensPerMinute: 10_000_000 } as const;

/**
 * The snapshot after one request that used `tokens`, with nothing else in the window.
 * @example generousSnapshot(1200).remainingTokens // 9_998_800
 */
export function generousSnapshot(tokens: number): RateLimitSnapshot {
  const { requestsPerMinute, tokensPerMinute } = GENEROUS_LIMITS;
  return {
    limitRequests: requestsPerMinute,
    limitTokens: tokensPerMinute,
    remainingRequests: requestsPerMinute - 1,
    remainingTokens: Math.max(0, tokensPerMinute - tokens),
    resetRequestsMs: Math.ceil(60_000 / requestsPerMinute),
    resetTokensMs: Math.ceil((tokens * 60_000) / tokensPerMinute),
  };
}

/**
 * The headers for a snapshot, with durations written as the provider writes them ("6ms", "1s", "6m0s").
 * @example rateLimitHeaders(generousSnapshot(100))['x-ratelimit-reset-requests'] // '6ms'
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
