import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { knowledgeSchema } from '#shared/schemas.ts';
import { malform } from '#sim/faults/malformed.ts';
import {
  FaultConfigError,
  type LlmSimulator,
  type LlmSimulatorOptions,
  type ManualClock,
  manualClock,
  startLlmSimulator,
} from '#sim/server.ts';
import { clientFor, expectError, extractRequest, plainRequest, sample, settle, turns, until } from './calls.ts';

/** The content as JSON, or undefined when it is not JSON (which is what malformed output is tested for). */
function parseOrUndefined(content: string): unknown {
  try {
    return JSON.parse(content);
  } catch {
    return undefined;
  }
}

describe('Injected faults over HTTP', () => {
  let sim: LlmSimulator | undefined;
  let clock: ManualClock;

  async function start(options: LlmSimulatorOptions = {}): Promise<LlmSimulator> {
    clock = manualClock(0);
    sim = await startLlmSimulator({ clock, ...options });
    return sim;
  }

  afterEach(async () => {
    await sim?.stop();
    sim = undefined;
  });

  describe('Error rates', () => {
    async function statusesOf(seed: number, calls: number): Promise<number[]> {
      const running = await start({ seed, faults: { errorRates: { 500: 0.05, 503: 0.03, 400: 0.02 } } });
      const client = clientFor(running);
      const statuses: number[] = [];
      try {
        for (let call = 0; call < calls; call++) {
          const outcome = await settle(client.chat.completions.create(plainRequest(`Call ${call}`)));
          statuses.push(outcome instanceof OpenAI.APIError ? (outcome.status ?? 0) : 200);
        }
        return statuses;
      } finally {
        await running.stop();
      }
    }

    it('answers each status at about its rate, the same calls every run for the same seed', async () => {
      // Act
      const first = await statusesOf(42, 1_000);
      const again = await statusesOf(42, 1_000);
      const otherSeed = await statusesOf(43, 200);

      // Assess
      const count = (status: number): number => first.filter((s) => s === status).length;
      expect(again).toEqual(first);
      expect(otherSeed).not.toEqual(first.slice(0, 200));
      expect(count(500)).toBeGreaterThanOrEqual(35);
      expect(count(500)).toBeLessThanOrEqual(65);
      expect(count(503)).toBeGreaterThanOrEqual(18);
      expect(count(503)).toBeLessThanOrEqual(42);
      expect(count(400)).toBeGreaterThanOrEqual(10);
      expect(count(400)).toBeLessThanOrEqual(30);
      expect(count(200)).toBe(1_000 - count(500) - count(503) - count(400));
    });

    it('sends the provider error body, which the SDK raises as its error classes, and counts them', async () => {
      // Prepare
      const running = await start({ faults: { errorRates: { 500: 1 } } });
      const client = clientFor(running);

      // Act
      const serverError = await settle(client.chat.completions.create(plainRequest('Hi')));
      running.configure({ errorRates: { 400: 1 } });
      const badRequest = await settle(client.chat.completions.create(plainRequest('Hi')));
      running.configure({ errorRates: {} });
      const healthy = await client.chat.completions.create(plainRequest('Hi'));

      // Assess
      expect(serverError).toBeInstanceOf(OpenAI.InternalServerError);
      expect(serverError).toMatchObject({ status: 500, type: 'server_error' });
      expect(badRequest).toBeInstanceOf(OpenAI.BadRequestError);
      expect(badRequest).toMatchObject({ status: 400, type: 'invalid_request_error' });
      expect(healthy.choices).toHaveLength(1);
      expect(running.stats()).toMatchObject({
        errorsServed: { '500': 1, '400': 1 },
        responsesByStatus: { '500': 1, '400': 1, '200': 1 },
        admitted: 1,
      });
    });

    it('answers an injected error only after the configured latency', async () => {
      // Prepare
      const running = await start({ faults: { errorRates: { 503: 1 }, latency: 2_000 } });
      let answered = false;
      const call = settle(clientFor(running).chat.completions.create(plainRequest('Hi'))).finally(() => {
        answered = true;
      });
      await until(() => running.stats().inFlight === 1);

      // Act
      clock.advance(1_999);
      await turns();
      const earlyAnswer = answered;
      clock.advance(1);

      // Assess
      expect(earlyAnswer).toBe(false);
      expect(await call).toMatchObject({ status: 503 });
    });

    it('serves an injected error instead of counting the call against the rate limit', async () => {
      // Prepare
      const running = await start({ faults: { errorRates: { 500: 1 }, limits: { rpm: 1 } } });
      const client = clientFor(running);

      // Act
      const outcomes = [await settle(client.chat.completions.create(plainRequest('1')))];
      outcomes.push(await settle(client.chat.completions.create(plainRequest('2'))));

      // Assess
      expect(outcomes.map((outcome) => expectError(outcome, OpenAI.APIError).status)).toEqual([500, 500]);
      expect(running.stats()).toMatchObject({ admitted: 0, rateLimited: { requests: 0 } });
    });
  });

  describe('Hangs', () => {
    it('holds a call open until the client aborts, and counts it', async () => {
      // Prepare
      const running = await start({ faults: { hangRate: 1 } });
      const controller = new AbortController();
      const call = settle(
        clientFor(running).chat.completions.create(plainRequest('Hi'), { signal: controller.signal }),
      );
      await until(() => running.stats().inFlight === 1);
      clock.advance(10 * 60_000);
      await turns();

      // Act
      controller.abort();
      const outcome = await call;
      await until(() => running.stats().inFlight === 0);

      // Assess
      expect(outcome).toBeInstanceOf(OpenAI.APIUserAbortError);
      expect(running.stats()).toMatchObject({ hung: 1, requestsAborted: 1, requestsServed: 0, responsesByStatus: {} });
    });

    it('ends hanging calls when the simulator stops', async () => {
      // Prepare
      const running = await start({ faults: { hangRate: 1 } });
      const client = clientFor(running);
      const calls = [1, 2, 3].map((n) => settle(client.chat.completions.create(plainRequest(`Call ${n}`))));
      await until(() => running.stats().inFlight === 3);

      // Act
      await running.stop();
      const outcomes = await Promise.all(calls);

      // Assess
      for (const outcome of outcomes) expect(outcome).toBeInstanceOf(OpenAI.APIConnectionError);
      expect(running.stats()).toMatchObject({ hung: 3, maxConcurrent: 3, inFlight: 0 });
    });

    it('hangs about hangRate of the calls', async () => {
      // Prepare
      const running = await start({ seed: 5, faults: { hangRate: 0.2 } });
      const client = clientFor(running);
      const controllers = Array.from({ length: 200 }, () => new AbortController());
      const calls = controllers.map((controller, n) =>
        settle(client.chat.completions.create(plainRequest(`Call ${n}`), { signal: controller.signal })),
      );

      // Act
      await until(() => running.stats().requestsServed + running.stats().hung === 200);
      for (const controller of controllers) controller.abort();
      await Promise.all(calls);

      // Assess
      const { hung, requestsServed } = running.stats();
      expect(hung).toBeGreaterThanOrEqual(25);
      expect(hung).toBeLessThanOrEqual(55);
      expect(requestsServed).toBe(200 - hung);
    });
  });

  describe('Outages', () => {
    it('fails every call with 503 during a scheduled outage and recovers after it', async () => {
      // Prepare
      const running = await start({ faults: { outages: [{ startMs: 10_000, endMs: 20_000, mode: 'error' }] } });
      const client = clientFor(running);

      // Act
      const before = await settle(client.chat.completions.create(plainRequest('Before')));
      clock.advance(10_000);
      const during = await settle(client.chat.completions.create(plainRequest('During')));
      clock.advance(9_999);
      const lateDuring = await settle(client.chat.completions.create(plainRequest('Still during')));
      clock.advance(1);
      const after = await settle(client.chat.completions.create(plainRequest('After')));

      // Assess
      expect(before).not.toBeInstanceOf(OpenAI.APIError);
      expect(during).toBeInstanceOf(OpenAI.InternalServerError);
      expect(during).toMatchObject({ status: 503, type: 'server_error' });
      expect(lateDuring).toMatchObject({ status: 503 });
      expect(after).not.toBeInstanceOf(OpenAI.APIError);
      expect(running.stats()).toMatchObject({ callsDuringOutage: 2, errorsServed: { '503': 2 }, admitted: 2 });
    });

    it('holds every call open during a scheduled hang outage', async () => {
      // Prepare
      const running = await start({ faults: { outages: [{ startMs: 0, endMs: 5_000, mode: 'hang' }] } });
      const controller = new AbortController();
      const client = clientFor(running);

      // Act
      const hanging = settle(client.chat.completions.create(plainRequest('Hi'), { signal: controller.signal }));
      await until(() => running.stats().hung === 1);
      clock.advance(5_000);
      const after = await client.chat.completions.create(plainRequest('Later'));
      controller.abort();

      // Assess
      expect(await hanging).toBeInstanceOf(OpenAI.APIUserAbortError);
      expect(after.choices).toHaveLength(1);
      expect(running.stats()).toMatchObject({ callsDuringOutage: 1, hung: 1 });
    });

    it('starts and ends an outage by switch, from code and over HTTP', async () => {
      // Prepare
      const running = await start({ faults: { hangRate: 1 } });
      const client = clientFor(running);
      running.configure({ hangRate: 0 });

      // Act
      running.configure({ outage: { mode: 'error' } });
      const during = await settle(client.chat.completions.create(plainRequest('During')));
      const switchedOff = await fetch(new URL('/_sim/faults', running.url), {
        method: 'POST',
        body: JSON.stringify({ outage: null }),
      });
      const after = await client.chat.completions.create(plainRequest('After'));

      // Assess
      expect(during).toMatchObject({ status: 503 });
      expect(switchedOff.status).toBe(200);
      expect(after.choices).toHaveLength(1);
      expect(running.stats()).toMatchObject({ callsDuringOutage: 1, errorsServed: { '503': 1 } });
    });

    it('checks the outage before hangs and injected errors', async () => {
      // Prepare
      const running = await start({ faults: { outage: { mode: 'error' }, hangRate: 1, errorRates: { 500: 1 } } });

      // Act
      const outcome = await settle(clientFor(running).chat.completions.create(plainRequest('Hi')));

      // Assess
      expect(outcome).toMatchObject({ status: 503 });
      expect(running.stats()).toMatchObject({ hung: 0, errorsServed: { '503': 1 } });
    });
  });

  describe('Malformed output', () => {
    it('answers 200s that fail the schema: half cut mid-way, half missing a required field', async () => {
      // Prepare
      const running = await start({ faults: { malformedRate: 1 } });
      const client = clientFor(running);

      // Act
      const contents: string[] = [];
      for (let index = 0; index < 4; index++) {
        const completion = await client.chat.completions.create(extractRequest(sample(index)));
        contents.push(completion.choices[0]?.message.content ?? '');
      }
      const plain = await client.chat.completions.create(plainRequest('Hello'));

      // Assess
      const parsed = contents.map((content) => {
        const json = parseOrUndefined(content);
        return { json: json !== undefined, valid: knowledgeSchema.safeParse(json).success };
      });
      expect(parsed).toEqual([
        { json: false, valid: false },
        { json: true, valid: false },
        { json: false, valid: false },
        { json: true, valid: false },
      ]);
      expect(plain.choices[0]?.message.content).toMatch(/^Here is a brief answer/);
      expect(running.stats()).toMatchObject({ malformed: 4, requestsServed: 5 });
    });

    it('leaves about 1 - malformedRate of the answers valid', async () => {
      // Prepare
      const running = await start({ seed: 9, faults: { malformedRate: 0.25 } });
      const client = clientFor(running);

      // Act
      let valid = 0;
      for (let index = 0; index < 200; index++) {
        const completion = await client.chat.completions.create(extractRequest(sample(index)));
        const content = completion.choices[0]?.message.content ?? '';
        if (knowledgeSchema.safeParse(parseOrUndefined(content)).success) valid++;
      }

      // Assess
      expect(valid).toBe(200 - running.stats().malformed);
      expect(valid).toBeGreaterThanOrEqual(135);
      expect(valid).toBeLessThanOrEqual(165);
    });
  });

  describe('Function: malform', () => {
    it('drops the first required field present, or cuts the content in half', () => {
      // Prepare
      const content = JSON.stringify({ verdict: 'accept', feedback: 'ok', unsupportedClaims: [] });

      // Act
      const missing = malform(content, 'missing-field', ['feedback', 'verdict']);
      const cut = malform(content, 'truncated');

      // Assess
      expect(JSON.parse(missing)).toEqual({ verdict: 'accept', unsupportedClaims: [] });
      expect(cut).toBe(content.slice(0, Math.floor(content.length / 2)));
    });
  });

  describe('Configuration', () => {
    it('rejects a bad POST /_sim/faults with 400 naming the field, and keeps the faults as they were', async () => {
      // Prepare
      const running = await start({ faults: { hangRate: 0.5 } });
      const post = (body: string): Promise<Response> =>
        fetch(new URL('/_sim/faults', running.url), { method: 'POST', body });

      // Act
      const badRate = await post(JSON.stringify({ errorRates: { 500: 1.5 } }));
      const typo = await post(JSON.stringify({ hangrate: 0.1 }));
      const badWindow = await post(JSON.stringify({ outages: [{ startMs: 10, endMs: 5, mode: 'error' }] }));
      const notJson = await post('{"limits":');
      const current = await fetch(new URL('/_sim/faults', running.url));

      // Assess
      expect(badRate.status).toBe(400);
      expect(await badRate.json()).toMatchObject({
        error: { type: 'invalid_request_error', param: 'errorRates.500', code: 'invalid_value' },
      });
      expect(await typo.json()).toMatchObject({ error: { param: 'hangrate' } });
      expect(await badWindow.json()).toMatchObject({ error: { param: 'outages[0].endMs' } });
      expect(notJson.status).toBe(400);
      expect(await current.json()).toEqual({ hangRate: 0.5 });
    });

    it('rejects bad faults from code with a FaultConfigError naming the field', async () => {
      // Prepare
      const running = await start();

      // Act
      const failure = (() => {
        try {
          running.configure({ limits: { rpm: 0 } });
          return undefined;
        } catch (error) {
          return error;
        }
      })();
      const startFailure = await settle(startLlmSimulator({ faults: { errorRates: { 200: 0.5 } } }));

      // Assess
      expect(failure).toBeInstanceOf(FaultConfigError);
      expect(failure).toMatchObject({ field: 'limits.rpm' });
      expect(startFailure).toBeInstanceOf(FaultConfigError);
      expect(startFailure).toMatchObject({ field: 'errorRates.200' });
    });

    it('switches latency at run time, including a lognormal one', async () => {
      // Prepare
      const running = await start({ latencyMs: 0 });
      const client = clientFor(running);
      running.configure({ latency: { distribution: 'lognormal', medianMs: 500, p99Ms: 500 } });
      let answered = false;

      // Act
      const call = client.chat.completions.create(plainRequest('Hi')).finally(() => {
        answered = true;
      });
      await until(() => running.stats().inFlight === 1);
      clock.advance(499);
      await turns();
      const earlyAnswer = answered;
      clock.advance(1);
      await call;

      // Assess
      expect(earlyAnswer).toBe(false);
      expect(answered).toBe(true);
    });
  });

  describe('Stats', () => {
    it('counts every kind of fault on the API and over GET /_sim/stats', async () => {
      // Prepare
      const running = await start({ faults: { limits: { rpm: 2 } } });
      const client = clientFor(running);
      const controller = new AbortController();

      // Act
      await client.chat.completions.create(plainRequest('ok 1'));
      await client.chat.completions.create(plainRequest('ok 2'));
      await settle(client.chat.completions.create(plainRequest('limited')));
      running.configure({ errorRates: { 502: 1 } });
      await settle(client.chat.completions.create(plainRequest('error')));
      running.configure({ errorRates: {}, hangRate: 1 });
      const hanging = settle(client.chat.completions.create(plainRequest('hang'), { signal: controller.signal }));
      await until(() => running.stats().hung === 1);
      controller.abort();
      await hanging;
      running.configure({ hangRate: 0, outage: { mode: 'error' } });
      await settle(client.chat.completions.create(plainRequest('outage')));
      const overHttp: unknown = await (await fetch(new URL('/_sim/stats', running.url))).json();

      // Assess
      const expected = {
        requestsReceived: 6,
        requestsServed: 2,
        admitted: 2,
        admittedByModel: { 'gpt-4o-mini': 2 },
        maxRpmInAnyWindow: 2,
        maxRpmInAnyWindowByModel: { 'gpt-4o-mini': 2 },
        rateLimited: { requests: 1, tokens: 0 },
        errorsServed: { '502': 1, '503': 1 },
        hung: 1,
        requestsAborted: 1,
        malformed: 0,
        callsDuringOutage: 1,
        maxConcurrent: 1,
        responsesByStatus: { '200': 2, '429': 1, '502': 1, '503': 1 },
      };
      expect(running.stats()).toMatchObject(expected);
      expect(overHttp).toMatchObject(expected);
    });
  });
});
