import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { completionHandler } from './completion.ts';
import { stableId } from './hash.ts';
import { type LatencySpec, latencySampler } from './latency.ts';
import { type CallContext, type CallStage, composeStages, latencyStage, type SimResponse } from './pipeline.ts';
import { generousSnapshot, rateLimitHeaders } from './rate-limits.ts';
import { type SimulatorStats, StatsRecorder } from './stats.ts';
import { countPromptTokens } from './tokens.ts';
import { chatCompletionRequestSchema, openAiError, validationError } from './wire.ts';

/**
 * An OpenAI-compatible LLM server for tests, demos and benchmarks: the real `openai` SDK talks to it over
 * HTTP and gets deterministic, schema-valid answers with realistic usage and headers. Importing this module
 * starts nothing; `startLlmSimulator` does.
 */

export type { DraftFlaw } from './generators/draft.ts';
export { generateDraft, plannedFlaw } from './generators/draft.ts';
export type { Answer, AnswerFormat } from './generators/formats.ts';
export { answerFor } from './generators/formats.ts';
export { generateKnowledge } from './generators/knowledge.ts';
export { ALWAYS_ACCEPT_FROM_REVISION, generateReview } from './generators/review.ts';
export type { LatencySpec } from './latency.ts';
export type { CallContext, CallHandler, CallStage, SimResponse } from './pipeline.ts';
export type { SimulatorStats } from './stats.ts';
export { countCompletionTokens, countPromptTokens, countTextTokens } from './tokens.ts';

/** Models listed and accepted when none are configured. */
export const DEFAULT_MODELS: readonly string[] = [
  'gpt-4o-mini',
  'gpt-4o',
  'gpt-4.1',
  'gpt-4.1-mini',
  'gpt-4.1-nano',
  'gpt-5',
  'gpt-5-mini',
  'gpt-5-nano',
  'o4-mini',
];
/** Prompt plus completion tokens a model accepts in one call. */
export const CONTEXT_WINDOW_TOKENS = 128_000;
/** Largest request body accepted; bigger bodies get 413 as from the provider. */
export const MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface LlmSimulatorOptions {
  /** @default 0 (any free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Latency of each chat completion, fixed or uniform in a range. @default 0 */
  readonly latencyMs?: LatencySpec;
  /** Seed of everything pseudo-random (latency, ids). @default 1 */
  readonly seed?: number;
  /** Models the server lists and accepts; others get 404 `model_not_found`. @default DEFAULT_MODELS */
  readonly models?: readonly string[];
}

export interface LlmSimulator {
  /** Base URL for the SDK, ending in `/v1`. */
  readonly url: string;
  readonly port: number;
  /** A snapshot of what the server has seen so far. */
  stats(): SimulatorStats;
  /** Stops listening and drops open connections; safe to call more than once. */
  stop(): Promise<void>;
}

class PayloadTooLargeError extends Error {
  override readonly name = 'PayloadTooLargeError';
}

/**
 * Starts a simulator on its own HTTP server.
 * @example
 * const sim = await startLlmSimulator({ latencyMs: { minMs: 50, maxMs: 200 }, seed: 7 });
 * const client = new OpenAI({ apiKey: 'test', baseURL: sim.url, maxRetries: 0 });
 * // ... client.chat.completions.create(...)
 * await sim.stop();
 */
export async function startLlmSimulator(options: LlmSimulatorOptions = {}): Promise<LlmSimulator> {
  const host = options.host ?? '127.0.0.1';
  const seed = options.seed ?? 1;
  const models = [...(options.models ?? DEFAULT_MODELS)];
  const stats = new StatsRecorder();
  const active = new Set<AbortController>();
  let sequence = 0;

  // Stages that answer without generating (rate limits, injected errors, outages) go first, so their
  // responses come back without the model's latency, as a provider's 429 does.
  const stages: CallStage[] = [latencyStage(latencySampler(options.latencyMs ?? 0, seed))];
  const handleCall = composeStages(stages, completionHandler({ seed }));

  const server = createServer((req, res) => {
    sequence++;
    const path = pathOf(req.url);
    // The simulator's own endpoints stay out of the counters, so stats describe only provider traffic.
    const counted = path !== '/health' && !path.startsWith('/_sim/');
    const context: RequestContext = {
      sequence,
      requestId: stableId('req_', `${seed}:${sequence}`, 32),
      receivedAt: Date.now(),
      path,
      counted,
    };
    if (counted) stats.received();
    route(req, res, context).then(
      (response) => {
        if (response !== undefined) send(res, context, response);
      },
      () => send(res, context, { status: 500, body: SERVER_ERROR, headers: {} }),
    );
  });

  function send(res: ServerResponse, context: RequestContext, response: SimResponse): void {
    if (res.headersSent || res.destroyed) return;
    if (context.counted) stats.responded(response.status);
    res.writeHead(response.status, {
      'content-type': 'application/json',
      'x-request-id': context.requestId,
      'openai-version': '2020-10-01',
      'openai-processing-ms': String(Math.max(0, Date.now() - context.receivedAt)),
      ...response.headers,
    });
    res.end(JSON.stringify(response.body));
  }

  async function route(
    req: IncomingMessage,
    res: ServerResponse,
    context: RequestContext,
  ): Promise<SimResponse | undefined> {
    const method = req.method ?? 'GET';
    const { path } = context;
    const apiPath = path.startsWith('/v1/') ? path.slice(3) : path;

    if (method === 'GET' && path === '/health') return json(200, { status: 'ok' });
    if (method === 'GET' && path === '/_sim/stats') return json(200, stats.snapshot());
    if (method === 'POST' && apiPath === '/chat/completions') {
      return authenticate(req) ?? (await chatCompletion(req, res, context));
    }
    if (method === 'GET' && apiPath === '/models') {
      return authenticate(req) ?? json(200, { object: 'list', data: models.map(modelObject) });
    }
    const modelId = method === 'GET' ? /^\/models\/(.+)$/.exec(apiPath)?.[1] : undefined;
    if (modelId !== undefined) {
      const id = decodeURIComponent(modelId);
      return authenticate(req) ?? (models.includes(id) ? json(200, modelObject(id)) : modelNotFound(id));
    }
    return json(404, openAiError(`Invalid URL (${method} ${path})`, 'invalid_request_error'));
  }

  async function chatCompletion(
    req: IncomingMessage,
    res: ServerResponse,
    context: RequestContext,
  ): Promise<SimResponse | undefined> {
    let raw: string;
    try {
      raw = await readBody(req);
    } catch (error) {
      if (error instanceof PayloadTooLargeError) {
        return json(413, openAiError(error.message, 'invalid_request_error', null, 'request_too_large'));
      }
      throw error;
    }
    let parsedJson: unknown;
    try {
      parsedJson = JSON.parse(raw);
    } catch {
      return json(400, INVALID_JSON);
    }
    const parsed = chatCompletionRequestSchema.safeParse(parsedJson);
    if (!parsed.success) return json(400, validationError(parsed.error));
    const request = parsed.data;
    if (!models.includes(request.model)) return modelNotFound(request.model);

    const promptTokens = countPromptTokens(request.messages);
    const maxCompletionTokens = request.max_completion_tokens ?? request.max_tokens ?? undefined;
    const requested = promptTokens + (maxCompletionTokens ?? 0);
    if (requested > CONTEXT_WINDOW_TOKENS) {
      return json(
        400,
        openAiError(
          `This model's maximum context length is ${CONTEXT_WINDOW_TOKENS} tokens. However, you requested ${requested} tokens (${promptTokens} in the messages, ${maxCompletionTokens ?? 0} in the completion). Please reduce the length of the messages or completion.`,
          'invalid_request_error',
          'messages',
          'context_length_exceeded',
        ),
      );
    }

    const controller = new AbortController();
    const onClose = (): void => {
      if (!res.writableFinished) controller.abort(new Error('client closed the connection'));
    };
    res.once('close', onClose);
    active.add(controller);
    stats.callStarted();
    const call: CallContext = {
      requestId: context.requestId,
      sequence: context.sequence,
      receivedAt: context.receivedAt,
      request,
      promptTokens,
      maxCompletionTokens,
      signal: controller.signal,
    };
    try {
      const response = await handleCall(call);
      if (controller.signal.aborted) {
        stats.aborted();
        return undefined;
      }
      const { completion } = response;
      if (completion !== undefined) {
        stats.served(completion.format, completion.finishReason, completion.promptTokens, completion.completionTokens);
      }
      const used = completion === undefined ? promptTokens : completion.promptTokens + completion.completionTokens;
      return { ...response, headers: { ...rateLimitHeaders(generousSnapshot(used)), ...response.headers } };
    } catch (error) {
      if (controller.signal.aborted) {
        stats.aborted();
        return undefined;
      }
      throw error;
    } finally {
      stats.callEnded();
      active.delete(controller);
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('simulator is not listening on a TCP port');
  const { port } = address;
  let stopped: Promise<void> | undefined;

  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}/v1`,
    port,
    stats: () => stats.snapshot(),
    stop: () => {
      stopped ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        for (const controller of active) controller.abort(new Error('simulator stopped'));
        server.closeAllConnections();
      });
      return stopped;
    },
  };
}

interface RequestContext {
  sequence: number;
  requestId: string;
  receivedAt: number;
  path: string;
  /** False for the simulator's own endpoints (`/health`, `/_sim/*`). */
  counted: boolean;
}

const SERVER_ERROR = openAiError(
  'The server had an error while processing your request. Sorry about that!',
  'server_error',
);
const INVALID_JSON = openAiError(
  "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
  'invalid_request_error',
);

/** The request path without a trailing slash; a target that is not a URL path reads as `/`. */
function pathOf(target: string | undefined): string {
  try {
    return new URL(target ?? '/', 'http://simulator').pathname.replace(/\/+$/, '') || '/';
  } catch {
    return '/';
  }
}

function json(status: number, body: unknown): SimResponse {
  return { status, body, headers: {} };
}

/** 401 unless the request carries `Authorization: Bearer <key>`; any key is accepted. */
function authenticate(req: IncomingMessage): SimResponse | undefined {
  if (/^Bearer\s+\S+/i.test(req.headers.authorization ?? '')) return undefined;
  return json(
    401,
    openAiError(
      "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
      'invalid_request_error',
    ),
  );
}

function modelNotFound(model: string): SimResponse {
  return json(
    404,
    openAiError(
      `The model \`${model}\` does not exist or you do not have access to it.`,
      'invalid_request_error',
      null,
      'model_not_found',
    ),
  );
}

function modelObject(id: string): { id: string; object: 'model'; created: number; owned_by: string } {
  return { id, object: 'model', created: 1_700_000_000, owned_by: 'sluice-simulator' };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  // Reads to the end even past the limit: stopping early would destroy the socket the 413 must go out on.
  for await (const chunk of req) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size <= MAX_BODY_BYTES) chunks.push(buffer);
  }
  if (size > MAX_BODY_BYTES) throw new PayloadTooLargeError(`Request body exceeds ${MAX_BODY_BYTES} bytes.`);
  return Buffer.concat(chunks).toString('utf8');
}
