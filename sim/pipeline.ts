import type { AnswerFormat } from './generators/formats.ts';
import { delay } from './latency.ts';
import type { ChatCompletionRequest } from './wire.ts';

/**
 * A validated chat-completion call flows through a list of stages to the handler that answers it. Each
 * stage may answer itself (an injected error, a 429), wait (latency, a hang), or change what the next
 * stage answers (malformed output); that is where fault policies plug in, without touching the generator.
 */

/** One authenticated, validated chat-completion call. */
export interface CallContext {
  /** The `x-request-id` the response will carry. */
  readonly requestId: string;
  /** 1-based arrival number on this server. */
  readonly sequence: number;
  /** `Date.now()` when the request arrived. */
  readonly receivedAt: number;
  readonly request: ChatCompletionRequest;
  readonly promptTokens: number;
  /** Completion tokens the caller allows (`max_completion_tokens` or `max_tokens`), if any. */
  readonly maxCompletionTokens: number | undefined;
  /** Aborts when the client goes away or the server stops. */
  readonly signal: AbortSignal;
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
}

export type CallHandler = (call: CallContext) => Promise<SimResponse>;
export type CallStage = (call: CallContext, next: () => Promise<SimResponse>) => Promise<SimResponse>;

/**
 * Chains stages in order in front of the handler.
 * @example const handle = composeStages([latencyStage(() => 200)], completionHandler({ seed: 1 }));
 */
export function composeStages(stages: readonly CallStage[], handler: CallHandler): CallHandler {
  return (call) => {
    const run = (index: number): Promise<SimResponse> => {
      const stage = stages[index];
      return stage === undefined ? handler(call) : stage(call, () => run(index + 1));
    };
    return run(0);
  };
}

/**
 * Waits the next sampled latency before the rest of the pipeline runs; a client that goes away stops the wait.
 * @example latencyStage(latencySampler({ minMs: 100, maxMs: 400 }, 7))
 */
export function latencyStage(nextLatencyMs: () => number): CallStage {
  return async (call, next) => {
    await delay(nextLatencyMs(), call.signal);
    return next();
  };
}
