import OpenAI from 'openai';
import type { ChatCompletionCreateParamsNonStreaming } from 'openai/resources/chat/completions';
import * as z from 'zod';
import { extractMessages } from '#shared/prompts.ts';
import { type IntakeItem, knowledgeSchema, OUTPUT_FORMATS } from '#shared/schemas.ts';
import type { LlmSimulator } from '#sim/server.ts';
import { readSampleFile } from './sample-items.ts';

/** Requests and clients for simulator tests. */

export const MODEL = 'gpt-4o-mini';

const { valid: samples } = readSampleFile();

export function sample(index: number): IntakeItem {
  const item = samples[index % samples.length];
  if (item === undefined) throw new Error(`no sample at ${index}`);
  return item;
}

/** An SDK client without retries, as sluice uses it. */
export function clientFor(sim: LlmSimulator): OpenAI {
  return new OpenAI({ apiKey: 'test', baseURL: sim.url, maxRetries: 0 });
}

export function plainRequest(text: string, model = MODEL): ChatCompletionCreateParamsNonStreaming {
  return { model, messages: [{ role: 'user', content: text }] };
}

/** The extract stage's request: knowledge of an item, as structured output. */
export function extractRequest(item: IntakeItem, model = MODEL): ChatCompletionCreateParamsNonStreaming {
  return {
    model,
    messages: extractMessages({ item }),
    response_format: {
      type: 'json_schema',
      json_schema: { name: OUTPUT_FORMATS.knowledge, schema: z.toJSONSchema(knowledgeSchema), strict: true },
    },
  };
}

/** Resolves with the call's result or its error, so a test can assert on either. */
export function settle<T>(call: Promise<T>): Promise<T | unknown> {
  return call.catch((error: unknown) => error);
}

/** Lets real I/O (sockets) make progress while time stands still; no wall-clock waiting. */
export async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 10_000; turn++) {
    if (condition()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error('condition not reached');
}

/** Gives pending I/O a number of event-loop turns, to show that something does NOT happen. */
export async function turns(count = 50): Promise<void> {
  for (let turn = 0; turn < count; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * The most of `times` (sorted) that fall within any sliding window of `windowMs` (half-open: an entry at t
 * leaves the window at t + windowMs), counted the slow and obvious way.
 */
export function bruteForceMaxInWindow(
  times: readonly number[],
  windowMs = 60_000,
  weights?: readonly number[],
): number {
  let best = 0;
  for (const end of times) {
    let total = 0;
    times.forEach((time, index) => {
      if (time <= end && end - time < windowMs) total += weights?.[index] ?? 1;
    });
    best = Math.max(best, total);
  }
  return best;
}

/**
 * Narrows a settled outcome to the error class a test expects, failing the test with what came instead.
 * @example expectError(await settle(call), OpenAI.RateLimitError).headers.get('retry-after')
 */
export function expectError<T>(outcome: unknown, type: abstract new (...args: never[]) => T): T {
  if (!(outcome instanceof type)) throw new Error(`expected ${type.name}, got ${String(outcome)}`);
  return outcome;
}
