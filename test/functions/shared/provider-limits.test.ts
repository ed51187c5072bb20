import { describe, expect, it } from 'vitest';
import { advertisedLimits, parseDuration, tokenCharge } from '#shared/provider-limits.ts';

describe('Function: advertisedLimits', () => {
  it('reads the request and token limits', () => {
    const headers = new Headers({ 'x-ratelimit-limit-requests': '500', 'x-ratelimit-limit-tokens': '200000' });
    expect(advertisedLimits(headers)).toEqual({ requests: 500, tokens: 200_000 });
  });

  it('leaves out a limit that is absent, empty, not a number or not positive', () => {
    expect(advertisedLimits(new Headers({ 'x-ratelimit-limit-tokens': '30000' }))).toEqual({ tokens: 30_000 });
    expect(
      advertisedLimits(new Headers({ 'x-ratelimit-limit-requests': 'many', 'x-ratelimit-limit-tokens': '' })),
    ).toBeUndefined();
    expect(
      advertisedLimits(new Headers({ 'x-ratelimit-limit-requests': '0', 'x-ratelimit-limit-tokens': '-5' })),
    ).toBeUndefined();
    expect(advertisedLimits(new Headers())).toBeUndefined();
    expect(advertisedLimits(undefined)).toBeUndefined();
  });
});

describe('Function: advertisedLimits in each dialect', () => {
  const now = Date.parse('2026-11-01T12:00:00Z');

  it('takes nothing from a provider configured as sending no rate-limit headers', () => {
    const headers = new Headers({ 'x-ratelimit-limit-requests': '60', 'x-ratelimit-limit-tokens': '1000' });
    expect(advertisedLimits(headers, 'none', now)).toBeUndefined();
  });

  it('never takes a daily request limit for a per-minute one (openai-rpd)', () => {
    // Prepare: a provider that reuses the OpenAI names with the request figures per day
    const headers = new Headers({
      'x-ratelimit-limit-requests': '14400',
      'x-ratelimit-remaining-requests': '14370',
      'x-ratelimit-reset-requests': '6s',
      'x-ratelimit-limit-tokens': '18000',
      'x-ratelimit-remaining-tokens': '17997',
      'x-ratelimit-reset-tokens': '10ms',
    });

    // Act & Assess: the tokens are per minute; the requests are not a per-minute limit
    expect(advertisedLimits(headers, 'openai-rpd', now)).toEqual({
      tokens: 18_000,
      remainingRequests: 14_370,
      resetRequestsMs: 6000,
    });
  });

  it('still holds calls while a daily request limit has none left (openai-rpd)', () => {
    const headers = new Headers({
      'x-ratelimit-limit-requests': '1000',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '2h10m5s',
    });
    expect(advertisedLimits(headers, 'openai-rpd', now)).toEqual({
      remainingRequests: 0,
      resetRequestsMs: 7_805_000,
    });
  });

  it('does not follow a request limit as per minute when its window frees a request more than a minute ahead', () => {
    // Prepare: configured as OpenAI's headers, but the figures are a day's (the reset gives it away)
    const headers = new Headers({
      'x-ratelimit-limit-requests': '14400',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '2m59.56s',
    });

    // Act & Assess
    expect(advertisedLimits(headers, 'openai', now)).toEqual({ remainingRequests: 0, resetRequestsMs: 179_560 });
  });

  it("reads Anthropic's headers, with RFC 3339 resets of a bucket that refills continuously", () => {
    // Prepare: 50 requests a minute, none left, full again in 30 s: one request comes back after 1.2 s
    const headers = new Headers({
      'anthropic-ratelimit-requests-limit': '50',
      'anthropic-ratelimit-requests-remaining': '0',
      'anthropic-ratelimit-requests-reset': '2026-11-01T12:00:30Z',
      'anthropic-ratelimit-tokens-limit': '40000',
      'anthropic-ratelimit-tokens-remaining': '1200',
      'anthropic-ratelimit-tokens-reset': '2026-11-01T12:00:20Z',
      // A provider speaking Anthropic's dialect is not read as OpenAI's
      'x-ratelimit-limit-requests': '5',
    });

    // Act & Assess
    expect(advertisedLimits(headers, 'anthropic', now)).toEqual({
      requests: 50,
      tokens: 40_000,
      remainingRequests: 0,
      resetRequestsMs: 1200,
    });
  });

  it('takes the reset itself when the bucket is full sooner than one request is worth', () => {
    const headers = new Headers({
      'anthropic-ratelimit-requests-limit': '5',
      'anthropic-ratelimit-requests-remaining': '0',
      'anthropic-ratelimit-requests-reset': '2026-11-01T12:00:02Z',
    });
    expect(advertisedLimits(headers, 'anthropic', now)).toMatchObject({ resetRequestsMs: 2000 });
  });

  it("ignores OpenAI's headers when the provider speaks Anthropic's", () => {
    expect(advertisedLimits(new Headers({ 'x-ratelimit-limit-requests': '5' }), 'anthropic', now)).toBeUndefined();
  });
});

describe('Function: tokenCharge', () => {
  it('charges the prompt estimate plus max_tokens at admission', () => {
    expect(tokenCharge('admission', { promptTokens: 900, maxTokens: 2048 })).toBe(2948);
    expect(tokenCharge('usage', { promptTokens: 900, maxTokens: 2048 })).toBe(2948);
  });

  it('charges the larger of the two under admission-max', () => {
    expect(tokenCharge('admission-max', { promptTokens: 900, maxTokens: 2048 })).toBe(2048);
    expect(tokenCharge('admission-max', { promptTokens: 3000, maxTokens: 2048 })).toBe(3000);
  });
});

describe('Function: parseDuration', () => {
  it.each([
    ['20ms', 20],
    ['1s', 1000],
    ['1.5s', 1500],
    ['6m0s', 360_000],
    ['1h2m3s', 3_723_000],
  ])('parses %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', 'soon', '5 seconds', '1s!'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});
