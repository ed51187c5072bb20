import { realClock, type SimClock } from './clock.ts';
import type { AnswerFormat } from './generators/formats.ts';
import { delay } from './latency.ts';
import type { ChatCompletionRequest } from './wire.ts';

/**
 * A validated chat-completion call flows through a list of stages to the handler that answers it. Each
 * stage may answer itself (an injected error, a 429), wait (latency, a hang), or hand the next stage a
 * changed call (malformed output); that is where fault policies plug in, without touching the generator.
 */

/** The answer the model will give to a call, known before it is sent (rate limits count its tokens). */
export interface PlannedAnswer {
  format: AnswerFormat;
  content: string;
  completionTokens: number;
  finishReason: 'stop' | 'length';
}

/** One authenticated, validated chat-completion call. */
export interface CallContext {
  /** The `x-request-id` the response will carry. */
  readonly requestId: string;
  /** 1-based arrival number on this server. */
  readonly sequence: number;
  /** The simulator clock's `now()` when the request arrived. */
  readonly receivedAt: number;
  readonly request: ChatCompletionRequest;
  readonly promptTokens: number;
  /** Completion tokens the caller allows (`max_completion_tokens` or `max_tokens`), if any. */
  readonly maxCompletionTokens: number | undefined;
  /** Aborts when the client goes away or the server stops. */
  readonly signal: AbortSignal;
  /** The answer this call gets unless a stage answers first; computed once, on first use. */
  readonly answer: () => PlannedAnswer;
}

/** What a completion that was actually generated used, for stats and rate-limit accounting. */
export interface CompletionRecord {
  format: AnswerFormat;
  finishReason: 'stop' | 'length';
  promptTokens: number;
  completionTokens: number;
}

export interface SimResponse {
  status: number;
  body: unknown;
  headers: Record<string, string>;
  /** Present when the response carries a generated completion. */
  completion?: CompletionRecord;
  /** Tokens the provider charged the call against its TPM limit when it admitted it (as it counts them). */
  chargedTokens?: number;
}

export type CallHandler = (call: CallContext) => Promise<SimResponse>;
/** `next()` runs the rest of the pipeline on the same call; `next(changed)` on a changed one. */
export type CallStage = (call: CallContext, next: (call?: CallContext) => Promise<SimResponse>) => Promise<SimResponse>;

/**
 * Chains stages in order in front of the handler.
 * @example const handle = composeStages([latencyStage(() => 200)], completionHandler({ seed: 1 }));
 */
export function composeStages(stages: readonly CallStage[], handler: CallHandler): CallHandler {
  return (call) => {
    const run = (index: number, current: CallContext): Promise<SimResponse> => {
      const stage = stages[index];
      return stage === undefined ? handler(current) : stage(current, (changed) => run(index + 1, changed ?? current));
    };
    return run(0, call);
  };
}

/**
 * Waits the next sampled latency before the rest of the pipeline runs; a client that goes away stops the wait.
 * @example latencyStage(latencySampler({ minMs: 100, maxMs: 400 }, 7))
 */
export function latencyStage(nextLatencyMs: () => number, clock: SimClock = realClock): CallStage {
  return async (call, next) => {
    await delay(nextLatencyMs(), call.signal, clock);
    return next();
  };
}
