import OpenAI from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as z from 'zod';
import { draftMessages, extractMessages, reviewMessages } from '#shared/prompts.ts';
import {
  draftSchema,
  type IntakeItem,
  type Knowledge,
  knowledgeSchema,
  OUTPUT_FORMATS,
  reviewSchema,
} from '#shared/schemas.ts';
import { DEFAULT_MODELS, type LlmSimulator, startLlmSimulator } from '#sim/server.ts';
import { readSampleFile } from './sample-items.ts';

const MODEL = 'gpt-4o-mini';
const { valid: samples } = readSampleFile();

function sample(index: number): IntakeItem {
  const item = samples[index];
  if (item === undefined) throw new Error(`no sample at ${index}`);
  return item;
}

function structured(name: string, schema: z.ZodType): ChatCompletionCreateParamsNonStreaming['response_format'] {
  return { type: 'json_schema', json_schema: { name, schema: z.toJSONSchema(schema), strict: true } };
}

function extractRequest(item: IntakeItem): ChatCompletionCreateParamsNonStreaming {
  return {
    model: MODEL,
    messages: extractMessages({ item }),
    response_format: structured(OUTPUT_FORMATS.knowledge, knowledgeSchema),
  };
}

describe('Class: LlmSimulator', () => {
  let sim: LlmSimulator;
  let client: OpenAI;

  beforeAll(async () => {
    sim = await startLlmSimulator();
    client = new OpenAI({ apiKey: 'test', baseURL: sim.url, maxRetries: 0 });
  });

  afterAll(async () => {
    await sim.stop();
  });

  describe('Method: POST /v1/chat/completions', () => {
    it('answers each structured format with content that passes its schema', async () => {
      // Prepare
      const item = sample(0);

      // Act
      const extracted = await client.chat.completions.create(extractRequest(item));
      const knowledge: Knowledge = knowledgeSchema.parse(JSON.parse(extracted.choices[0]?.message.content ?? ''));
      const drafted = await client.chat.completions.create({
        model: MODEL,
        messages: draftMessages({ item: { id: item.id, title: item.title }, knowledge, related: [], revision: 0 }),
        response_format: structured(OUTPUT_FORMATS.draft, draftSchema),
      });
      const draft = draftSchema.parse(JSON.parse(drafted.choices[0]?.message.content ?? ''));
      const reviewed = await client.chat.completions.create({
        model: MODEL,
        messages: reviewMessages({ knowledge, draft, revision: 0 }),
        response_format: structured(OUTPUT_FORMATS.review, reviewSchema),
      });

      // Assess
      expect(reviewSchema.safeParse(JSON.parse(reviewed.choices[0]?.message.content ?? '')).success).toBe(true);
      expect(extracted).toMatchObject({
        object: 'chat.completion',
        model: MODEL,
        choices: [{ index: 0, finish_reason: 'stop', logprobs: null, message: { role: 'assistant', refusal: null } }],
      });
      expect(extracted.id).toMatch(/^chatcmpl-[A-Za-z0-9]{29}$/);
    });

    it('works with the SDK parse helper and a zod response format', async () => {
      // Prepare
      const { zodResponseFormat } = await import('openai/helpers/zod');

      // Act
      const completion = await client.chat.completions.parse({
        model: MODEL,
        messages: extractMessages({ item: sample(1) }),
        response_format: zodResponseFormat(knowledgeSchema, OUTPUT_FORMATS.knowledge),
      });

      // Assess
      expect(completion.choices[0]?.message.parsed?.keyClaims.length).toBeGreaterThan(0);
    });

    it('reports usage that adds up and grows with the prompt', async () => {
      // Prepare
      const short = { ...sample(2), body: sample(2).body.slice(0, 300) };
      const long = sample(2);

      // Act
      const shortCompletion = await client.chat.completions.create(extractRequest(short));
      const longCompletion = await client.chat.completions.create(extractRequest(long));

      // Assess
      for (const completion of [shortCompletion, longCompletion]) {
        const usage = completion.usage;
        const content = completion.choices[0]?.message.content ?? '';
        expect(usage?.total_tokens).toBe((usage?.prompt_tokens ?? 0) + (usage?.completion_tokens ?? 0));
        expect(usage?.completion_tokens).toBe(Math.ceil(content.length / 4));
      }
      const messagesChars = extractMessages({ item: long }).reduce(
        (sum, message) => sum + String(message.content).length,
        0,
      );
      expect(longCompletion.usage?.prompt_tokens).toBeGreaterThanOrEqual(Math.ceil(messagesChars / 4));
      expect(longCompletion.usage?.prompt_tokens).toBeLessThan(Math.ceil(messagesChars / 4) + 20);
      expect(longCompletion.usage?.prompt_tokens).toBeGreaterThan(shortCompletion.usage?.prompt_tokens ?? 0);
    });

    it('gives the same content for the same request and different content for different items', async () => {
      // Act
      const first = await client.chat.completions.create(extractRequest(sample(3)));
      const again = await client.chat.completions.create(extractRequest(sample(3)));
      const other = await client.chat.completions.create(extractRequest(sample(4)));

      // Assess
      expect(again.choices[0]?.message.content).toBe(first.choices[0]?.message.content);
      expect(other.choices[0]?.message.content).not.toBe(first.choices[0]?.message.content);
      expect(again.id).not.toBe(first.id);
    });

    it('sends the request id, processing time and rate-limit headers', async () => {
      // Act
      const { response, request_id } = await client.chat.completions.create(extractRequest(sample(5))).withResponse();

      // Assess
      expect(request_id).toMatch(/^req_[A-Za-z0-9]{32}$/);
      expect(Number(response.headers.get('openai-processing-ms'))).toBeGreaterThanOrEqual(0);
      expect(Number(response.headers.get('x-ratelimit-limit-requests'))).toBeGreaterThan(1000);
      expect(Number(response.headers.get('x-ratelimit-limit-tokens'))).toBeGreaterThan(100_000);
      expect(Number(response.headers.get('x-ratelimit-remaining-requests'))).toBeGreaterThan(0);
      expect(Number(response.headers.get('x-ratelimit-remaining-tokens'))).toBeGreaterThan(0);
      expect(response.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d+(?:ms|s)$/);
      expect(response.headers.get('x-ratelimit-reset-tokens')).toMatch(/^(?:\d+m)?[\d.]+(?:ms|s)$/);
    });

    it('cuts the answer with finish_reason "length" when max_tokens is too small', async () => {
      // Act
      const completion = await client.chat.completions.create({ ...extractRequest(sample(6)), max_tokens: 5 });

      // Assess
      const choice = completion.choices[0];
      expect(choice?.finish_reason).toBe('length');
      expect(completion.usage?.completion_tokens).toBe(5);
      expect(choice?.message.content?.length).toBeLessThanOrEqual(20);
      expect(() => JSON.parse(choice?.message.content ?? '')).toThrow();
    });

    it('answers a request without a structured format in plain text', async () => {
      // Act
      const completion = await client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'Say hello to the pipeline.' }],
      });

      // Assess
      const content = completion.choices[0]?.message.content ?? '';
      expect(content.length).toBeGreaterThan(0);
      expect(() => JSON.parse(content)).toThrow();
    });

    it('answers 401 in the provider error shape without an API key', async () => {
      // Act
      const response = await fetch(`${sim.url}/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(extractRequest(sample(0))),
      });

      // Assess
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({
        error: { message: expect.stringContaining('API key'), type: 'invalid_request_error', param: null, code: null },
      });
    });

    it('answers 400 to a body that breaks the schema, which the SDK raises as BadRequestError', async () => {
      // Act
      const failure = await client.chat.completions
        .create({ ...extractRequest(sample(0)), temperature: 7 })
        .catch((error: unknown) => error);

      // Assess
      expect(failure).toBeInstanceOf(OpenAI.BadRequestError);
      expect(failure).toMatchObject({ status: 400, param: 'temperature', type: 'invalid_request_error' });
    });

    it('answers 400 to a body that is not JSON', async () => {
      // Act
      const response = await fetch(`${sim.url}/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer test', 'content-type': 'application/json' },
        body: '{"model": "gpt-4o-mini", "messages": [',
      });

      // Assess
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ error: { type: 'invalid_request_error', param: null } });
    });

    it('names a missing required parameter as the provider does', async () => {
      // Act
      const response = await fetch(`${sim.url}/chat/completions`, {
        method: 'POST',
        headers: { authorization: 'Bearer test' },
        body: JSON.stringify({ model: MODEL, messages: [{ role: 'user' }] }),
      });

      // Assess
      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({
        error: {
          message: "Missing required parameter: 'messages[0].content'.",
          type: 'invalid_request_error',
          param: 'messages[0].content',
          code: 'missing_required_parameter',
        },
      });
    });

    it('answers 404 model_not_found for a model it does not serve', async () => {
      // Act
      const failure = await client.chat.completions
        .create({ ...extractRequest(sample(0)), model: 'no-such-model' })
        .catch((error: unknown) => error);

      // Assess
      expect(failure).toBeInstanceOf(OpenAI.NotFoundError);
      expect(failure).toMatchObject({ status: 404, code: 'model_not_found' });
    });

    it('accepts a base URL without /v1', async () => {
      // Prepare
      const bare = new OpenAI({ apiKey: 'test', baseURL: sim.url.replace(/\/v1$/, ''), maxRetries: 0 });

      // Act
      const completion = await bare.chat.completions.create(extractRequest(sample(7)));

      // Assess
      expect(knowledgeSchema.safeParse(JSON.parse(completion.choices[0]?.message.content ?? '')).success).toBe(true);
    });
  });

  describe('Method: other routes', () => {
    it('lists the configured models', async () => {
      // Act
      const models = [];
      for await (const model of client.models.list()) models.push(model.id);

      // Assess
      expect(models).toEqual(DEFAULT_MODELS);
    });

    it('answers 404 in the provider error shape for an unknown path', async () => {
      // Act
      const response = await fetch(`${sim.url}/embeddings`, { method: 'POST', headers: { authorization: 'Bearer t' } });

      // Assess
      expect(response.status).toBe(404);
      expect(await response.json()).toEqual({
        error: { message: 'Invalid URL (POST /v1/embeddings)', type: 'invalid_request_error', param: null, code: null },
      });
    });

    it('reports health without a key', async () => {
      // Act
      const response = await fetch(new URL('/health', sim.url));

      // Assess
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ status: 'ok' });
    });
  });
});

describe('Stats', () => {
  it('counts served completions by format and their tokens, on the API and over HTTP', async () => {
    // Prepare
    const sim = await startLlmSimulator({ models: ['sim-small'] });
    const client = new OpenAI({ apiKey: 'test', baseURL: sim.url, maxRetries: 0 });
    const item = sample(8);

    try {
      // Act
      const first = await client.chat.completions.create({ ...extractRequest(item), model: 'sim-small' });
      const second = await client.chat.completions.create({
        model: 'sim-small',
        messages: [{ role: 'user', content: 'Hi' }],
      });
      await client.chat.completions.create({ ...extractRequest(item), model: 'gpt-4o' }).catch(() => undefined);
      const overHttp: unknown = await (await fetch(new URL('/_sim/stats', sim.url))).json();

      // Assess
      const stats = sim.stats();
      expect(stats).toMatchObject({
        requestsServed: 2,
        servedByFormat: { knowledge_extraction: 1, text: 1 },
        finishReasons: { stop: 2 },
        responsesByStatus: { '200': 2, '404': 1 },
        inFlight: 0,
        maxInFlight: 1,
        promptTokens: (first.usage?.prompt_tokens ?? 0) + (second.usage?.prompt_tokens ?? 0),
        completionTokens: (first.usage?.completion_tokens ?? 0) + (second.usage?.completion_tokens ?? 0),
      });
      expect(overHttp).toMatchObject({ requestsServed: 2, servedByFormat: stats.servedByFormat });
    } finally {
      await sim.stop();
    }
  });
});
