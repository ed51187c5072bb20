import fc from 'fast-check';
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { type LlmSimulator, type ManualClock, manualClock, startLlmSimulator } from '#sim/server.ts';
import {
  bruteForceMaxInWindow,
  clientFor,
  expectError,
  extractRequest,
  MODEL,
  plainRequest,
  sample,
  settle,
} from './calls.ts';

const START = 1_700_000_000_000;

describe('Rate limits over HTTP', () => {
  let sim: LlmSimulator | undefined;
  let clock: ManualClock;

  async function start(faults: Parameters<typeof startLlmSimulator>[0] = {}): Promise<LlmSimulator> {
    clock = manualClock(START);
    sim = await startLlmSimulator({ clock, ...faults });
    return sim;
  }

  afterEach(async () => {
    await sim?.stop();
    sim = undefined;
  });

  it('answers a burst over rpm with 429s that carry the provider body and headers', async () => {
    // Prepare
    const running = await start({ faults: { limits: { rpm: 3 } } });
    const client = clientFor(running);
    const admitted = [];
    for (let call = 0; call < 3; call++) {
      admitted.push(await client.chat.completions.create(plainRequest(`Call ${call}`)));
      clock.advance(1_000);
    }

    // Act
    const response = await fetch(`${running.url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer test' },
      body: JSON.stringify(plainRequest('One too many')),
    });

    // Assess: the oldest admission (at START) leaves the window at START + 60 s, 57 s from now
    expect(admitted).toHaveLength(3);
    expect(response.status).toBe(429);
    expect(await response.json()).toEqual({
      error: {
        message: expect.stringMatching(
          /^Rate limit reached for gpt-4o-mini .*on requests per min \(RPM\): Limit 3, Used 3, Requested 1\. Please try again in 57s\./,
        ),
        type: 'requests',
        param: null,
        code: 'rate_limit_exceeded',
      },
    });
    expect(Object.fromEntries(response.headers)).toMatchObject({
      'retry-after': '57',
      'retry-after-ms': '57000',
      'x-ratelimit-limit-requests': '3',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '57s',
      'x-request-id': expect.stringMatching(/^req_/),
    });
    expect(running.stats()).toMatchObject({ rateLimited: { requests: 1, tokens: 0 }, admitted: 3 });
  });

  it('sends no x-ratelimit headers when told not to advertise, and a 429 then says only retry-after', async () => {
    // Prepare
    const running = await start({ faults: { limits: { rpm: 1, headers: 'none' } } });
    const send = () =>
      fetch(`${running.url}/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer test' },
        body: JSON.stringify(plainRequest('Quiet')),
      });

    // Act
    const answered = await send();
    const refused = await send();

    // Assess
    expect(answered.status).toBe(200);
    expect(refused.status).toBe(429);
    for (const response of [answered, refused]) {
      expect([...response.headers.keys()].filter((name) => name.startsWith('x-ratelimit'))).toEqual([]);
      expect(response.headers.has('retry-after-ms')).toBe(false);
    }
    expect(refused.headers.get('retry-after')).toBe('60');
  });

  it('rounds retry-after up to whole seconds and keeps the milliseconds in retry-after-ms', async () => {
    // Prepare
    const running = await start({ faults: { limits: { rpm: 1 } } });
    const client = clientFor(running);
    await client.chat.completions.create(plainRequest('First'));
    clock.advance(58_800);

    // Act
    const failure = await settle(client.chat.completions.create(plainRequest('Second')));

    // Assess
    const { headers, message } = expectError(failure, OpenAI.RateLimitError);
    expect(headers.get('retry-after')).toBe('2');
    expect(headers.get('retry-after-ms')).toBe('1200');
    expect(headers.get('x-ratelimit-reset-requests')).toBe('1.2s');
    expect(message).toContain('Please try again in 1.2s.');
  });

  it('raises OpenAI.RateLimitError in the SDK with the headers a retry loop needs', async () => {
    // Prepare
    const running = await start({ faults: { limits: { rpm: 1 } } });
    const client = clientFor(running);
    await client.chat.completions.create(plainRequest('First'));

    // Act
    const failure = await settle(client.chat.completions.create(plainRequest('Second')));

    // Assess
    expect(failure).toMatchObject({ status: 429, type: 'requests', code: 'rate_limit_exceeded' });
    const { headers } = expectError(failure, OpenAI.RateLimitError);
    expect(headers.get('retry-after')).toBe('60');
    expect(headers.get('x-ratelimit-reset-requests')).toBe('1m0s');
    expect(headers.get('x-ratelimit-remaining-requests')).toBe('0');
  });

  it('admits calls again once the window has slid past the old ones', async () => {
    // Prepare
    const running = await start({ faults: { limits: { rpm: 2 } } });
    const client = clientFor(running);
    await client.chat.completions.create(plainRequest('A'));
    clock.advance(30_000);
    await client.chat.completions.create(plainRequest('B'));
    const whileFull = await settle(client.chat.completions.create(plainRequest('C')));

    // Act
    clock.advance(29_999);
    const oneMsEarly = await settle(client.chat.completions.create(plainRequest('D')));
    clock.advance(1);
    const onTime = await client.chat.completions.create(plainRequest('E')).withResponse();
    const rightAfter = await settle(client.chat.completions.create(plainRequest('F')));

    // Assess
    expect(whileFull).toBeInstanceOf(OpenAI.RateLimitError);
    expect(oneMsEarly).toBeInstanceOf(OpenAI.RateLimitError);
    expect(onTime.response.status).toBe(200);
    expect(onTime.response.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    // B (at 30 s) leaves the window at 90 s; it is 60 s now
    expect(onTime.response.headers.get('x-ratelimit-reset-requests')).toBe('30s');
    expect(rightAfter).toBeInstanceOf(OpenAI.RateLimitError);
    expect(running.stats()).toMatchObject({ admitted: 3, rateLimited: { requests: 3 }, maxRpmInAnyWindow: 2 });
  });

  it('enforces tpm by prompt plus completion tokens when it counts usage, with type "tokens"', async () => {
    // Prepare: measure one call's tokens on a model that has no limit, then limit another model to 2.5 calls' worth
    const running = await start({ faults: { limits: { tokenCounting: 'usage' } } });
    const client = clientFor(running);
    const request = extractRequest(sample(0));
    const probe = await client.chat.completions.create(request);
    const perCall = probe.usage?.total_tokens ?? 0;
    const tpm = Math.floor(perCall * 2.5);
    running.configure({ limits: { tokenCounting: 'usage', perModel: { 'gpt-4o': { tpm } } } });
    const limited = { ...request, model: 'gpt-4o' };

    // Act
    const first = await client.chat.completions.create(limited).withResponse();
    const second = await client.chat.completions.create(limited);
    const third = await settle(client.chat.completions.create(limited));
    const otherModel = await client.chat.completions.create(request);

    // Assess
    expect(first.response.headers.get('x-ratelimit-limit-tokens')).toBe(String(tpm));
    expect(first.response.headers.get('x-ratelimit-remaining-tokens')).toBe(String(tpm - perCall));
    expect(second.usage?.total_tokens).toBe(perCall);
    expect(third).toMatchObject({ type: 'tokens', code: 'rate_limit_exceeded' });
    expect(expectError(third, OpenAI.RateLimitError).message).toContain(
      `on tokens per min (TPM): Limit ${tpm}, Used ${perCall * 2}, Requested ${perCall}.`,
    );
    expect(otherModel.choices).toHaveLength(1);
    expect(running.stats()).toMatchObject({
      rateLimited: { requests: 0, tokens: 1 },
      admittedByModel: { [MODEL]: 2, 'gpt-4o': 2 },
      maxTpmInAnyWindowByModel: { [MODEL]: perCall * 2, 'gpt-4o': perCall * 2 },
      maxTpmInAnyWindow: perCall * 4,
    });
  });

  it.each([
    ['admission', (prompt: number, max: number) => prompt + max],
    ['admission-max', (prompt: number, max: number) => Math.max(prompt, max)],
  ] as const)(
    'charges max_tokens when it admits a call, however short the answer (%s)',
    async (tokenCounting, charge) => {
      // Prepare: a short answer under a large max_tokens; room for two such charges a minute
      const running = await start();
      const client = clientFor(running);
      const request = { ...extractRequest(sample(0)), max_tokens: 3000 };
      const probe = await client.chat.completions.create(request);
      const prompt = probe.usage?.prompt_tokens ?? 0;
      const perCall = charge(prompt, 3000);
      expect(probe.usage?.total_tokens ?? 0).toBeLessThan(perCall);
      running.configure({ limits: { tokenCounting, perModel: { 'gpt-4o': { tpm: Math.floor(perCall * 2.5) } } } });
      const limited = { ...request, model: 'gpt-4o' };

      // Act
      const first = await client.chat.completions.create(limited).withResponse();
      await client.chat.completions.create(limited);
      const third = await settle(client.chat.completions.create(limited));

      // Assess: the remaining tokens and the refusal count the charge, not the usage
      expect(first.response.headers.get('x-ratelimit-remaining-tokens')).toBe(
        String(Math.floor(perCall * 2.5) - perCall),
      );
      expect(expectError(third, OpenAI.RateLimitError).message).toContain(`Used ${perCall * 2}, Requested ${perCall}.`);
      expect(running.stats().maxTpmInAnyWindowByModel['gpt-4o']).toBe(perCall * 2);
    },
  );

  it('counts at admission by default', async () => {
    // Prepare
    const running = await start({ faults: { limits: { perModel: { 'gpt-4o': { tpm: 1_000_000 } } } } });
    const client = clientFor(running);

    // Act
    const answer = await client.chat.completions.create({ ...plainRequest('Hi', 'gpt-4o'), max_tokens: 500 });

    // Assess
    expect(running.stats().maxTpmInAnyWindowByModel['gpt-4o']).toBe((answer.usage?.prompt_tokens ?? 0) + 500);
  });

  it("speaks Anthropic's rate-limit headers, with RFC 3339 resets, when told to", async () => {
    // Prepare
    const running = await start({ faults: { limits: { rpm: 2, tpm: 100_000, headers: 'anthropic' } } });
    const send = () =>
      fetch(`${running.url}/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer test' },
        body: JSON.stringify(plainRequest('Claude-ish')),
      });

    // Act
    const answered = await send();
    clock.advance(10_000);
    await send();
    const refused = await send();

    // Assess
    expect(answered.headers.get('anthropic-ratelimit-requests-limit')).toBe('2');
    expect(answered.headers.get('anthropic-ratelimit-requests-remaining')).toBe('1');
    expect(answered.headers.get('anthropic-ratelimit-requests-reset')).toBe(
      new Date(START + 60_000).toISOString().replace('.000Z', 'Z'),
    );
    expect(answered.headers.get('anthropic-ratelimit-tokens-limit')).toBe('100000');
    expect([...answered.headers.keys()].filter((name) => name.startsWith('x-ratelimit'))).toEqual([]);
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('50');
    expect(refused.headers.has('retry-after-ms')).toBe(false);
    expect(refused.headers.get('anthropic-ratelimit-requests-remaining')).toBe('0');
  });

  it('enforces requests per day and reports them under the x-ratelimit request headers (openai-rpd)', async () => {
    // Prepare: 3 requests a day, 100 a minute; the request headers describe the day
    const running = await start({ faults: { limits: { rpm: 100, rpd: 3, tpm: 50_000, headers: 'openai-rpd' } } });
    const client = clientFor(running);

    // Act
    const first = await client.chat.completions.create(plainRequest('1')).withResponse();
    clock.advance(120_000);
    await client.chat.completions.create(plainRequest('2'));
    await client.chat.completions.create(plainRequest('3'));
    clock.advance(120_000);
    const fourth = await settle(client.chat.completions.create(plainRequest('4')));

    // Assess
    expect(first.response.headers.get('x-ratelimit-limit-requests')).toBe('3');
    expect(first.response.headers.get('x-ratelimit-remaining-requests')).toBe('2');
    expect(first.response.headers.get('x-ratelimit-limit-tokens')).toBe('50000');
    const refusal = expectError(fourth, OpenAI.RateLimitError);
    expect(refusal.message).toContain('requests per day (RPD): Limit 3, Used 3');
    // The first request leaves the day's window 24 hours after it was made
    expect(refusal.headers?.get('retry-after-ms')).toBe(String(86_400_000 - 240_000));
  });

  it('halves a limit at run time, through configure() and through POST /_sim/faults', async () => {
    // Prepare
    const running = await start({ faults: { limits: { rpm: 4 } } });
    const client = clientFor(running);
    await client.chat.completions.create(plainRequest('1'));
    await client.chat.completions.create(plainRequest('2'));

    // Act
    running.configure({ limits: { rpm: 2 } });
    const afterHalving = await settle(client.chat.completions.create(plainRequest('3')));
    const restored = await fetch(new URL('/_sim/faults', running.url), {
      method: 'POST',
      body: JSON.stringify({ limits: { rpm: 4 } }),
    });
    const afterRestoring = await client.chat.completions.create(plainRequest('4'));

    // Assess
    expect(afterHalving).toBeInstanceOf(OpenAI.RateLimitError);
    expect(restored.status).toBe(200);
    expect(await restored.json()).toEqual({ limits: { rpm: 4 } });
    expect(afterRestoring.choices).toHaveLength(1);
    expect(running.faults()).toEqual({ limits: { rpm: 4 } });
  });

  it('answers a call larger than the whole token limit without a retry-after', async () => {
    // Prepare
    const running = await start({ faults: { limits: { tpm: 20 } } });

    // Act
    const response = await fetch(`${running.url}/chat/completions`, {
      method: 'POST',
      headers: { authorization: 'Bearer test' },
      body: JSON.stringify(extractRequest(sample(1))),
    });

    // Assess
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBeNull();
    expect(await response.json()).toMatchObject({
      error: { type: 'tokens', code: 'rate_limit_exceeded', message: expect.stringMatching(/^Request too large/) },
    });
  });

  it('never lets more than rpm calls through in any 60-second window, whatever the arrival times', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.oneof(fc.integer({ min: 0, max: 20_000 }), fc.constantFrom(0, 30_000, 60_000)), {
          minLength: 1,
          maxLength: 25,
        }),
        async (rpm, gaps) => {
          // Prepare
          const running = await start({ faults: { limits: { rpm } } });
          const client = clientFor(running);
          const admittedAt: number[] = [];

          try {
            // Act
            for (const gap of gaps) {
              clock.advance(gap);
              const outcome = await settle(client.chat.completions.create(plainRequest('Hi')));
              if (!(outcome instanceof OpenAI.RateLimitError)) admittedAt.push(clock.now());
            }

            // Assess
            const stats = running.stats();
            expect(stats.maxRpmInAnyWindow).toBeLessThanOrEqual(rpm);
            expect(stats.maxRpmInAnyWindow).toBe(bruteForceMaxInWindow(admittedAt));
            expect(stats.maxRpmInAnyWindowByModel[MODEL]).toBe(stats.maxRpmInAnyWindow);
            expect(stats.admitted + stats.rateLimited.requests).toBe(gaps.length);
          } finally {
            await running.stop();
          }
        },
      ),
      { numRuns: 25 },
    );
  });

  it('reports generous headers when no limit is configured', async () => {
    // Prepare
    const running = await start();

    // Act
    const { response } = await clientFor(running).chat.completions.create(plainRequest('Hi')).withResponse();

    // Assess
    expect(Object.fromEntries(response.headers)).toMatchObject({
      'x-ratelimit-limit-requests': '10000',
      'x-ratelimit-remaining-requests': '9999',
      'x-ratelimit-reset-requests': '0ms',
      'x-ratelimit-reset-tokens': '0ms',
    });
  });
});
