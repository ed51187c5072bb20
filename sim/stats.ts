import type { AnswerFormat } from './generators/formats.ts';

/**
 * What the simulator has seen, for tests and benchmarks that assert on the provider's side of a run
 * (how many calls, how many at once, how many tokens).
 */

export interface SimulatorStats {
  /** HTTP requests received on provider paths (not `/health` or `/_sim/*`). */
  requestsReceived: number;
  /** Chat completions answered with 200. */
  requestsServed: number;
  /** Chat completions answered, by structured-output format (`text` for plain completions). */
  servedByFormat: Partial<Record<AnswerFormat, number>>;
  /** Chat completions answered, by finish reason. */
  finishReasons: Partial<Record<'stop' | 'length', number>>;
  /** Responses by HTTP status, on provider paths. */
  responsesByStatus: Record<string, number>;
  /** Chat-completion requests whose client went away before the answer. */
  requestsAborted: number;
  /** Chat-completion requests being handled right now. */
  inFlight: number;
  /** Most chat-completion requests handled at the same time. */
  maxInFlight: number;
  /** Prompt tokens of all served completions. */
  promptTokens: number;
  /** Completion tokens of all served completions. */
  completionTokens: number;
}

/** The mutable counters behind `SimulatorStats`, owned by one server. */
export class StatsRecorder {
  readonly #stats: SimulatorStats = {
    requestsReceived: 0,
    requestsServed: 0,
    servedByFormat: {},
    finishReasons: {},
    responsesByStatus: {},
    requestsAborted: 0,
    inFlight: 0,
    maxInFlight: 0,
    promptTokens: 0,
    completionTokens: 0,
  };

  received(): void {
    this.#stats.requestsReceived++;
  }

  responded(status: number): void {
    const key = String(status);
    this.#stats.responsesByStatus[key] = (this.#stats.responsesByStatus[key] ?? 0) + 1;
  }

  callStarted(): void {
    this.#stats.inFlight++;
    this.#stats.maxInFlight = Math.max(this.#stats.maxInFlight, this.#stats.inFlight);
  }

  callEnded(): void {
    this.#stats.inFlight--;
  }

  aborted(): void {
    this.#stats.requestsAborted++;
  }

  served(format: AnswerFormat, finishReason: 'stop' | 'length', promptTokens: number, completionTokens: number): void {
    this.#stats.requestsServed++;
    this.#stats.servedByFormat[format] = (this.#stats.servedByFormat[format] ?? 0) + 1;
    this.#stats.finishReasons[finishReason] = (this.#stats.finishReasons[finishReason] ?? 0) + 1;
    this.#stats.promptTokens += promptTokens;
    this.#stats.completionTokens += completionTokens;
  }

  /** A copy, so callers can keep it as a before/after snapshot. */
  snapshot(): SimulatorStats {
    return structuredClone(this.#stats);
  }
}
