import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { realClock, type SimClock } from './clock.ts';
import { completionHandler, planAnswer } from './completion.ts';
import { FaultConfigError, mergeFaults, parseFaults, type SimulatorFaults } from './faults/config.ts';
import { ErrorRatePolicy, errorRateStage } from './faults/error-rate.ts';
import { HangPolicy, hangStage } from './faults/hang.ts';
import { MalformedPolicy, malformedStage } from './faults/malformed.ts';
import { OutagePolicy, outageStage } from './faults/outage.ts';
import { RateLimitPolicy, rateLimitStage } from './faults/rate-limit.ts';
import { seededRandom, stableHash, stableId } from './hash.ts';
import { delay, type LatencySpec, latencySampler } from './latency.ts';
import {
  type CallContext,
  type CallStage,
  composeStages,
  latencyStage,
  type PlannedAnswer,
  type SimResponse,
} from './pipeline.ts';
import { type SimulatorStats, StatsRecorder } from './stats.ts';
import { countPromptTokens } from './tokens.ts';
import { chatCompletionRequestSchema, openAiError, validationError } from './wire.ts';

/** The header a caller names itself with (sluice's supervisor and doctor send it with their probes). */
const CALLER_HEADER = 'x-sluice-caller';
/** The status a call is recorded with when the caller closed the connection before the answer. */
const CLIENT_CLOSED = 499;

/**
 * An OpenAI-compatible LLM server for tests, demos and benchmarks: the real `openai` SDK talks to it over
 * HTTP and gets deterministic, schema-valid answers with realistic usage and headers. Importing this module
 * starts nothing; `startLlmSimulator` does.
 */

export type { ManualClock, SimClock } from './clock.ts';
export { manualClock } from './clock.ts';
export type { OutageMode, RateLimits, SimulatorFaults } from './faults/config.ts';
export { FaultConfigError } from './faults/config.ts';
export { generateDraft, plannedFlaw } from './generators/draft.ts';
export { answerFor } from './generators/formats.ts';
export { generateKnowledge } from './generators/knowledge.ts';
export { ALWAYS_ACCEPT_FROM_REVISION, generateReview } from './generators/review.ts';
export type { LatencySpec } from './latency.ts';
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
const CONTEXT_WINDOW_TOKENS = 128_000;
/** Largest request body accepted; bigger bodies get 413 as from the provider. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;

export interface LlmSimulatorOptions {
  /** @default 0 (any free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Latency of each chat completion: fixed, uniform in a range, or lognormal. `faults.latency` wins. @default 0 */
  readonly latencyMs?: LatencySpec;
  /** Seed of everything pseudo-random (latency, ids, faults). @default 1 */
  readonly seed?: number;
  /** Models the server lists and accepts; others get 404 `model_not_found`. @default DEFAULT_MODELS */
  readonly models?: readonly string[];
  /** Rate limits, injected errors, hangs, malformed output, outages; changeable later with `configure`. @default {} */
  readonly faults?: SimulatorFaults;
  /** Time and timers of everything the simulator does. @default realClock */
  readonly clock?: SimClock;
  /** Told about every chat completion answered (benchmarks keep a call log to measure rates over time). */
  readonly onCall?: (call: CallRecord) => void;
}

/** One chat completion as the provider saw it. */
export interface CallRecord {
  model: string;
  /** The simulator clock's `now()` when the request arrived and when it was answered. */
  receivedAt: number;
  answeredAt: number;
  /** The status answered; 499 when the caller gave up first (a hang, its timeout), as nginx logs it. */
  status: number;
  /** Tokens of the generated completion; 0 when none was (errors, 429s). */
  promptTokens: number;
  completionTokens: number;
  /**
   * Tokens the provider charged against the model's TPM limit when it admitted the call, as it counts them
   * (`limits.tokenCounting`); 0 for a call it refused or never got to admit.
   */
  chargedTokens: number;
  /** Who says it called (the `x-sluice-caller` header, e.g. `supervisor` for its probes); absent for the stages. */
  caller?: string;
}

export interface LlmSimulator {
  /** Base URL for the SDK, ending in `/v1`. */
  readonly url: string;
  readonly port: number;
  /** A snapshot of what the server has seen so far. */
  stats(): SimulatorStats;
  /**
   * Changes faults while running: each field given replaces the current one (`limits: {}` lifts the
   * limits, `outage: { mode }` starts an outage now and `outage: null` ends it).
   * @throws FaultConfigError naming the first bad field
   */
  configure(update: SimulatorFaults): void;
  /** The faults in force. */
  faults(): SimulatorFaults;
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
  const clock = options.clock ?? realClock;
  const models = [...(options.models ?? DEFAULT_MODELS)];
  const stats = new StatsRecorder();
  const active = new Set<AbortController>();
  let sequence = 0;

  let faults = parseFaults(options.faults ?? {});
  let nextLatency = latencySampler(faults.latency ?? options.latencyMs ?? 0, seed);
  // Each policy draws from its own stream, so turning one fault on or off leaves the others' decisions alone.
  const stream = (name: string): (() => number) => seededRandom(stableHash(`${seed}:${name}`));
  const outages = new OutagePolicy(clock.now(), faults.outages, faults.outage?.mode);
  const hangs = new HangPolicy(faults.hangRate ?? 0, stream('hang'));
  const errors = new ErrorRatePolicy(faults.errorRates ?? {}, stream('errors'));
  const rateLimits = new RateLimitPolicy(faults.limits);
  const malformed = new MalformedPolicy(faults.malformedRate ?? 0, stream('malformed'));
  const waitLatency = (signal: AbortSignal): Promise<void> => delay(nextLatency(), signal, clock);

  function configure(update: SimulatorFaults): void {
    applyFaults(parseFaults(update));
  }

  function applyFaults(valid: SimulatorFaults): void {
    faults = mergeFaults(faults, valid);
    if (valid.limits !== undefined) rateLimits.setLimits(valid.limits);
    if (valid.errorRates !== undefined) errors.setRates(valid.errorRates);
    if (valid.hangRate !== undefined) hangs.setRate(valid.hangRate);
    if (valid.malformedRate !== undefined) malformed.setRate(valid.malformedRate);
    if (valid.outages !== undefined) outages.setWindows(valid.outages);
    if (valid.outage !== undefined) outages.switchTo(valid.outage?.mode);
    if (valid.latency !== undefined) nextLatency = latencySampler(valid.latency, seed);
  }

  // Checks in the provider's order: outage, hang, injected error, rate limit; then the model's latency and
  // its answer. A 429 comes back at once, without the latency, as a provider's does.
  const stages: CallStage[] = [
    outageStage(outages, clock, stats),
    hangStage(hangs, stats),
    errorRateStage(errors, waitLatency, stats),
    rateLimitStage(rateLimits, clock, stats),
    latencyStage(() => nextLatency(), clock),
    malformedStage(malformed, stats),
  ];
  const handleCall = composeStages(stages, completionHandler({ seed }));

  const server = createServer((req, res) => {
    sequence++;
    const path = pathOf(req.url);
    // The simulator's own endpoints stay out of the counters, so stats describe only provider traffic.
    const counted = path !== '/health' && !path.startsWith('/_sim/');
    const context: RequestContext = {
      sequence,
      requestId: stableId('req_', `${seed}:${sequence}`, 32),
      receivedAt: clock.now(),
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
      'openai-processing-ms': String(Math.max(0, clock.now() - context.receivedAt)),
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
    if (method === 'GET' && path === '/_sim/stats') return json(200, stats.snapshot(rateLimits.stats()));
    if (method === 'GET' && path === '/_sim/faults') return json(200, faults);
    if (method === 'POST' && path === '/_sim/faults') return await configureOverHttp(req);
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

  async function configureOverHttp(req: IncomingMessage): Promise<SimResponse> {
    let update: unknown;
    try {
      update = JSON.parse(await readBody(req));
    } catch (error) {
      if (error instanceof PayloadTooLargeError) return json(413, openAiError(error.message, 'invalid_request_error'));
      return json(400, INVALID_JSON);
    }
    try {
      applyFaults(parseFaults(update));
    } catch (error) {
      if (!(error instanceof FaultConfigError)) throw error;
      return json(400, openAiError(error.message, 'invalid_request_error', error.field, 'invalid_value'));
    }
    return json(200, faults);
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
    let planned: PlannedAnswer | undefined;
    const call: CallContext = {
      requestId: context.requestId,
      sequence: context.sequence,
      receivedAt: context.receivedAt,
      request,
      promptTokens,
      maxCompletionTokens,
      signal: controller.signal,
      answer: () => {
        planned ??= planAnswer(request, maxCompletionTokens);
        return planned;
      },
    };
    const record = (
      status: number,
      completion?: { promptTokens: number; completionTokens: number },
      chargedTokens = 0,
    ) =>
      options.onCall?.({
        model: request.model,
        receivedAt: context.receivedAt,
        answeredAt: clock.now(),
        status,
        promptTokens: completion?.promptTokens ?? 0,
        completionTokens: completion?.completionTokens ?? 0,
        chargedTokens,
        ...(typeof req.headers[CALLER_HEADER] === 'string' && { caller: req.headers[CALLER_HEADER] }),
      });
    try {
      const response = await handleCall(call);
      if (controller.signal.aborted) {
        stats.aborted();
        record(CLIENT_CLOSED);
        return undefined;
      }
      const { completion } = response;
      if (completion !== undefined) {
        stats.served(completion.format, completion.finishReason, completion.promptTokens, completion.completionTokens);
      }
      record(response.status, completion, response.chargedTokens);
      return response;
    } catch (error) {
      if (controller.signal.aborted) {
        stats.aborted();
        record(CLIENT_CLOSED);
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
    stats: () => stats.snapshot(rateLimits.stats()),
    configure,
    faults: () => structuredClone(faults),
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
