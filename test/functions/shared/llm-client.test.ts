import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { LlmCallError } from '#shared/errors.ts';
import {
  type CompletionRequest,
  classifyLlmError,
  estimatePromptTokens,
  OpenAiLlmClient,
  retryAfterMs,
} from '#shared/llm-client.ts';
import { extractMessages } from '#shared/prompts.ts';
import { knowledgeSchema, OUTPUT_FORMATS } from '#shared/schemas.ts';
import { type LlmSimulator, manualClock, startLlmSimulator } from '#sim/server.ts';
import { sample } from '../../sim/calls.ts';

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

  it('carries the limits a 429 advertised', () => {
    // Act
    const error = classifyLlmError(
      apiError(429, { 'x-ratelimit-limit-requests': '60', 'x-ratelimit-limit-tokens': '150000' }),
    );

    // Assess
    expect(error.limits).toEqual({ requests: 60, tokens: 150_000 });
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

describe('Class: OpenAiLlmClient', () => {
  let sim: LlmSimulator | undefined;

  afterEach(async () => {
    await sim?.stop();
    sim = undefined;
  });

  /** The simulator as the provider, with the given per-minute limits for gpt-4o-mini; time stands still. */
  async function provider(limits: { rpm: number; tpm: number }) {
    sim = await startLlmSimulator({
      clock: manualClock(0),
      faults: { limits: { perModel: { 'gpt-4o-mini': limits } } },
    });
    return new OpenAiLlmClient({ apiKey: async () => 'test', baseUrl: sim.url });
  }

  const request: CompletionRequest = {
    itemId: 'item-1',
    step: 'knowledge',
    model: 'gpt-4o-mini',
    messages: extractMessages({ item: sample(0) }),
    format: { name: OUTPUT_FORMATS.knowledge, schema: knowledgeSchema },
    maxTokens: 800,
    timeoutMs: 10_000,
  };

  describe('Method: complete', () => {
    it('reports the limits the provider advertised on an answer and on a 429', async () => {
      // Prepare
      const llm = await provider({ rpm: 2, tpm: 40_000 });

      // Act: the third call in the same minute is over the limit
      const answered = await llm.complete(request);
      const last = await llm.complete(request);
      const refused = await llm.complete(request).catch((error: unknown) => error);

      // Assess: the second answer says the window has no request left, and when it frees one
      expect(answered.limits).toEqual({ requests: 2, tokens: 40_000, remainingRequests: 1, resetRequestsMs: 0 });
      expect(last.limits).toMatchObject({ remainingRequests: 0 });
      expect(last.limits?.resetRequestsMs).toBeGreaterThan(50_000);
      expect(refused).toBeInstanceOf(LlmCallError);
      expect(refused).toMatchObject({ status: 429, limits: { requests: 2, tokens: 40_000 } });
    });
  });

  describe('Method: probe', () => {
    it('reports the limits the provider advertised', async () => {
      // Prepare
      const llm = await provider({ rpm: 45, tpm: 50_000 });

      // Act
      const answered = await llm.probe({ model: 'gpt-4o-mini', timeoutMs: 10_000, caller: 'supervisor' });

      // Assess
      expect(answered.limits).toEqual({ requests: 45, tokens: 50_000, remainingRequests: 44, resetRequestsMs: 0 });
    });
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
