import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { LlmCallError } from '#shared/errors.ts';
import { classifyLlmError, estimatePromptTokens, parseDuration, retryAfterMs } from '#shared/llm-client.ts';

const apiError = (status: number, headers: Record<string, string> = {}) =>
  OpenAI.APIError.generate(status, { error: { message: `status ${status}` } }, undefined, new Headers(headers));

describe('Function: classifyLlmError', () => {
  it.each([400, 401, 403, 404, 422])('never retries a %i', (status) => {
    // Act
    const error = classifyLlmError(apiError(status));

    // Assess
    expect(error).toBeInstanceOf(LlmCallError);
    expect(error.kind).toBe('permanent');
    expect(error.status).toBe(status);
  });

  it.each([408, 409, 500, 502, 503, 504])('retries a %i', (status) => {
    expect(classifyLlmError(apiError(status)).kind).toBe('retryable');
  });

  it('treats a 429 as waiting for the rate limit, not as a failed attempt', () => {
    expect(classifyLlmError(apiError(429)).kind).toBe('deferred');
  });

  it('retries connection failures and timeouts', () => {
    expect(classifyLlmError(new OpenAI.APIConnectionError({ message: 'ECONNREFUSED' })).kind).toBe('retryable');
    expect(classifyLlmError(new OpenAI.APIConnectionTimeoutError()).kind).toBe('retryable');
  });

  it('carries the wait a 429 asked for', () => {
    // Act
    const error = classifyLlmError(apiError(429, { 'retry-after': '7' }));

    // Assess
    expect(error.retryAfterMs).toBe(7000);
  });
});

describe('Function: retryAfterMs', () => {
  it('prefers retry-after-ms', () => {
    expect(retryAfterMs(new Headers({ 'retry-after-ms': '250', 'retry-after': '9' }))).toBe(250);
  });

  it('reads retry-after as seconds or as an HTTP date', () => {
    // Prepare
    const now = Date.parse('2026-01-01T00:00:00Z');

    // Act & Assess
    expect(retryAfterMs(new Headers({ 'retry-after': '3' }), now)).toBe(3000);
    expect(retryAfterMs(new Headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:05 GMT' }), now)).toBe(5000);
  });

  it('takes the later of the request and token resets', () => {
    const headers = new Headers({ 'x-ratelimit-reset-requests': '1s', 'x-ratelimit-reset-tokens': '6m0s' });
    expect(retryAfterMs(headers)).toBe(360_000);
  });

  it('says nothing when the provider said nothing', () => {
    expect(retryAfterMs(new Headers())).toBeUndefined();
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

describe('Function: estimatePromptTokens', () => {
  it('grows with the prompt and never underestimates a short one to zero', () => {
    const short = estimatePromptTokens([{ role: 'user', content: 'hi' }]);
    const long = estimatePromptTokens([{ role: 'user', content: 'hi '.repeat(400) }]);
    expect(short).toBeGreaterThan(0);
    expect(long).toBeGreaterThan(short + 250);
  });
});
