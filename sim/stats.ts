import type { AnswerFormat } from './generators/formats.ts';

/**
 * What the simulator has seen, for tests and benchmarks that assert on the provider's side of a run
 * (how many calls, how many at once, how many tokens, which faults it served). Every counter is updated in
 * O(1) per call and a snapshot copies only small maps, so asking for stats stays cheap however long the run.
 */

/** Admissions through the rate-limit windows, per model and for all models together. */
export interface AdmissionStats {
  /** Calls admitted past the rate limits (every call that went on to be answered by the model). */
  admitted: number;
  admittedByModel: Record<string, number>;
  /** Most calls admitted within any sliding 60-second window, all models together. */
  maxRpmInAnyWindow: number;
  /** Most tokens (prompt + completion) admitted within any sliding 60-second window, all models together. */
  maxTpmInAnyWindow: number;
  maxRpmInAnyWindowByModel: Record<string, number>;
  maxTpmInAnyWindowByModel: Record<string, number>;
}

export interface SimulatorStats extends AdmissionStats {
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
  /** Most chat-completion requests handled at the same time (the same as `maxInFlight`). */
  maxConcurrent: number;
  /** Prompt tokens of all served completions. */
  promptTokens: number;
  /** Completion tokens of all served completions. */
  completionTokens: number;
  /** 429s served because a rate-limit window was full, by the limit that was hit. */
  rateLimited: { requests: number; tokens: number };
  /** Injected failures served (error rates and 'error' outages), by HTTP status. */
  errorsServed: Record<string, number>;
  /** Calls held open without an answer (hang rate and 'hang' outages). */
  hung: number;
  /** 200s whose content was made to break the requested schema. */
  malformed: number;
  /** Calls that arrived while an outage was on. */
  callsDuringOutage: number;
}

/** What fault stages report as they act. */
export interface FaultRecorder {
  duringOutage(): void;
  hung(): void;
  errorServed(status: number): void;
  rateLimited(type: 'requests' | 'tokens'): void;
  malformed(): void;
}

type CallCounters = Omit<SimulatorStats, keyof AdmissionStats>;

/** The mutable counters behind `SimulatorStats`, owned by one server. */
export class StatsRecorder implements FaultRecorder {
  readonly #stats: CallCounters = {
    requestsReceived: 0,
    requestsServed: 0,
    servedByFormat: {},
    finishReasons: {},
    responsesByStatus: {},
    requestsAborted: 0,
    inFlight: 0,
    maxInFlight: 0,
    maxConcurrent: 0,
    promptTokens: 0,
    completionTokens: 0,
    rateLimited: { requests: 0, tokens: 0 },
    errorsServed: {},
    hung: 0,
    malformed: 0,
    callsDuringOutage: 0,
  };

  received(): void {
    this.#stats.requestsReceived++;
  }

  responded(status: number): void {
    increment(this.#stats.responsesByStatus, String(status));
  }

  callStarted(): void {
    this.#stats.inFlight++;
    this.#stats.maxInFlight = Math.max(this.#stats.maxInFlight, this.#stats.inFlight);
    this.#stats.maxConcurrent = this.#stats.maxInFlight;
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

  duringOutage(): void {
    this.#stats.callsDuringOutage++;
  }

  hung(): void {
    this.#stats.hung++;
  }

  errorServed(status: number): void {
    increment(this.#stats.errorsServed, String(status));
  }

  rateLimited(type: 'requests' | 'tokens'): void {
    this.#stats.rateLimited[type]++;
  }

  malformed(): void {
    this.#stats.malformed++;
  }

  /** A copy joined with the admission windows' figures, so callers can keep it as a before/after snapshot. */
  snapshot(admissions: AdmissionStats): SimulatorStats {
    return structuredClone({ ...this.#stats, ...admissions });
  }
}

function increment(counts: Record<string, number>, key: string): void {
  counts[key] = (counts[key] ?? 0) + 1;
}
