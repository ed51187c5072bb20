import OpenAI from 'openai';
import type {
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import type * as z from 'zod';
import { LlmCallError } from './errors.ts';
import { type AdvertisedLimits, advertisedLimits, parseDuration, type RateLimitDialect } from './provider-limits.ts';

/**
 * The one place that talks to the provider, through the `openai` SDK against any OpenAI-compatible server.
 * The SDK's own retries are off: retry decisions belong to the stage, which knows the item's whole attempt
 * budget. Every failure leaves here as an LlmCallError that says whether a retry can help and how long the
 * provider asked us to wait.
 */

/** Statuses that a retry can fix; everything else with a status (400, 401, 403, 404, 422, ...) cannot. */
const RETRYABLE_STATUSES = new Set([408, 409, 425, 429, 500, 502, 503, 504]);

export interface CompletionRequest {
  /** Who the call is for, for logs and traces; never sent to the provider. */
  itemId: string;
  step: string;
  model: string;
  messages: ChatCompletionMessageParam[];
  /** Structured output: the zod schema and the name the provider sees. */
  format: { name: string; schema: z.ZodType };
  maxTokens: number;
  timeoutMs: number;
  signal?: AbortSignal | undefined;
}

export interface Completion {
  content: string;
  finishReason: string;
  model: string;
  promptTokens: number;
  completionTokens: number;
  latencyMs: number;
  requestId?: string | undefined;
  /** The provider's per-minute limits for the model as it advertised them on this answer, when it did. */
  limits?: AdvertisedLimits | undefined;
}

/** Header naming who makes a call that is not an item's (`supervisor`, `doctor`), for the provider's logs. */
const CALLER_HEADER = 'x-sluice-caller';

/** A one-token call that only asks whether the provider answers for a model. */
export interface ProbeRequest {
  model: string;
  timeoutMs: number;
  /** Sent as the `x-sluice-caller` header. */
  caller: string;
  signal?: AbortSignal | undefined;
}

/** Makes probe calls (the supervisor's and `sluice doctor`'s). */
export interface LlmProber {
  /** @throws {LlmCallError} classified like `complete`'s failures. */
  probe(request: ProbeRequest): Promise<Completion>;
}

export interface LlmClient {
  complete(request: CompletionRequest): Promise<Completion>;
}

/**
 * @example
 * const llm = new OpenAiLlmClient({ apiKey: async () => key, baseUrl: 'http://127.0.0.1:8080/v1' });
 * const completion = await llm.complete({ model, messages, format, maxTokens: 800, timeoutMs: 30_000 });
 */
export class OpenAiLlmClient implements LlmClient, LlmProber {
  readonly #apiKey: () => Promise<string>;
  readonly #baseUrl: string | undefined;
  readonly #now: () => number;
  readonly #sdkRetries: number;
  readonly #dialectOf: (model: string) => RateLimitDialect;
  #client: { key: string; sdk: OpenAI } | undefined;

  /**
   * @param options.sdkRetries the SDK's own retries; 0 (the default) leaves every retry to the stage. Only the
   *   benchmarks' naive baseline turns them on, to compare with what a plain SDK setup does.
   * @param options.dialectOf the rate-limit headers the provider sends for a model (`openai` when not given).
   */
  constructor(options: {
    apiKey: () => Promise<string>;
    baseUrl?: string | undefined;
    now?: () => number;
    sdkRetries?: number;
    dialectOf?: (model: string) => RateLimitDialect;
  }) {
    this.#apiKey = options.apiKey;
    this.#baseUrl = options.baseUrl;
    this.#now = options.now ?? Date.now;
    this.#sdkRetries = options.sdkRetries ?? 0;
    this.#dialectOf = options.dialectOf ?? (() => 'openai');
  }

  async complete(request: CompletionRequest): Promise<Completion> {
    return this.#call(
      {
        model: request.model,
        messages: request.messages,
        max_tokens: request.maxTokens,
        response_format: {
          type: 'json_schema',
          json_schema: { name: request.format.name, strict: true, schema: jsonSchemaOf(request.format.schema) },
        },
      },
      { timeout: request.timeoutMs, signal: request.signal, maxRetries: this.#sdkRetries },
    );
  }

  /**
   * The smallest call that proves the provider answers for a model: one short message, one completion token, no
   * structured output. It costs a few tokens.
   * @example await llm.probe({ model: 'gpt-4o-mini', timeoutMs: 10_000, caller: 'supervisor' });
   */
  async probe(request: ProbeRequest): Promise<Completion> {
    return this.#call(
      { model: request.model, messages: [{ role: 'user', content: 'ping' }], max_tokens: 1 },
      {
        timeout: request.timeoutMs,
        signal: request.signal,
        maxRetries: 0,
        headers: { [CALLER_HEADER]: request.caller },
      },
    );
  }

  /** One chat completion, its answer with usage, latency and the limits advertised; any failure classified. */
  async #call(
    body: ChatCompletionCreateParamsNonStreaming,
    options: {
      timeout: number;
      signal?: AbortSignal | undefined;
      maxRetries: number;
      headers?: Record<string, string>;
    },
  ): Promise<Completion> {
    const sdk = await this.#sdk();
    const started = this.#now();
    try {
      const { data, request_id, response } = await sdk.chat.completions.create(body, options).withResponse();
      const choice = data.choices[0];
      return {
        content: choice?.message.content ?? '',
        finishReason: choice?.finish_reason ?? 'unknown',
        model: data.model || body.model,
        promptTokens: data.usage?.prompt_tokens ?? 0,
        completionTokens: data.usage?.completion_tokens ?? 0,
        latencyMs: this.#now() - started,
        requestId: request_id ?? undefined,
        limits: advertisedLimits(response.headers, this.#dialectOf(body.model), this.#now()),
      };
    } catch (error) {
      throw classifyLlmError(error, this.#dialectOf(body.model));
    }
  }

  async #sdk(): Promise<OpenAI> {
    const key = await this.#apiKey();
    if (this.#client?.key !== key) {
      this.#client = { key, sdk: new OpenAI({ apiKey: key, baseURL: this.#baseUrl, maxRetries: this.#sdkRetries }) };
    }
    return this.#client.sdk;
  }
}

const schemaCache = new WeakMap<z.ZodType, Record<string, unknown>>();

/** The JSON schema of a zod schema in the strict form structured outputs require. */
function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  let json = schemaCache.get(schema);
  if (json === undefined) {
    const { $schema: _ignored, ...rest } = schema.toJSONSchema({ target: 'draft-7', io: 'output' }) as Record<
      string,
      unknown
    >;
    json = rest;
    schemaCache.set(schema, json);
  }
  return json;
}

/** Turns anything the SDK throws into an LlmCallError, reading its rate-limit headers in `dialect`. */
export function classifyLlmError(error: unknown, dialect: RateLimitDialect = 'openai'): LlmCallError {
  if (error instanceof LlmCallError) return error;
  if (error instanceof OpenAI.APIUserAbortError) {
    return new LlmCallError(
      'LLM call aborted: the invocation is about to time out',
      { retryable: true },
      { cause: error },
    );
  }
  if (error instanceof OpenAI.APIConnectionTimeoutError) {
    return new LlmCallError('LLM call timed out', { retryable: true, status: 408 }, { cause: error });
  }
  if (error instanceof OpenAI.APIConnectionError) {
    return new LlmCallError(`cannot reach the LLM provider: ${error.message}`, { retryable: true }, { cause: error });
  }
  if (error instanceof OpenAI.APIError) {
    const status = error.status;
    return new LlmCallError(
      `LLM provider answered ${status ?? 'with an error'}: ${error.message}`,
      {
        status,
        retryable: status === undefined || RETRYABLE_STATUSES.has(status) || status >= 500,
        retryAfterMs: retryAfterMs(error.headers),
        limits: advertisedLimits(error.headers, dialect),
      },
      { cause: error },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new LlmCallError(`LLM call failed: ${message}`, { retryable: true }, { cause: error });
}

/**
 * How long the provider asked us to wait, from `retry-after-ms`, `retry-after` (seconds or an HTTP date), or
 * the later of OpenAI's `x-ratelimit-reset-requests` / `x-ratelimit-reset-tokens` durations (`1s`, `6m0s`, `20ms`).
 */
export function retryAfterMs(headers: Headers | undefined, now: number = Date.now()): number | undefined {
  if (headers === undefined) return undefined;
  const ms = Number(headers.get('retry-after-ms'));
  if (headers.has('retry-after-ms') && Number.isFinite(ms) && ms >= 0) return ms;
  const retryAfter = headers.get('retry-after');
  if (retryAfter !== null) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(retryAfter);
    if (Number.isFinite(date)) return Math.max(0, date - now);
  }
  const resets = ['x-ratelimit-reset-requests', 'x-ratelimit-reset-tokens']
    .map((name) => parseDuration(headers.get(name)))
    .filter((value): value is number => value !== undefined);
  return resets.length > 0 ? Math.max(...resets) : undefined;
}

/**
 * A conservative estimate of prompt tokens (three characters a token, where English averages about four, plus
 * per-message overhead), used to reserve budgets and rate limits before a call; the provider's `usage` settles
 * it after. Over-estimating only holds capacity briefly; under-estimating could let a settle overspend.
 * @example estimatePromptTokens(messages)
 */
export function estimatePromptTokens(messages: readonly ChatCompletionMessageParam[]): number {
  let characters = 0;
  for (const message of messages) {
    characters += typeof message.content === 'string' ? message.content.length : JSON.stringify(message.content).length;
  }
  return Math.ceil(characters / 3) + 4 * messages.length + 3;
}
