import type { Logger } from '@aws-lambda-powertools/logger';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type LookReport, Supervisor } from '#functions/supervisor/supervisor.ts';
import { type SluiceConfig, supervisorConfigFor } from '#lib/config.ts';
import type { LlmProber } from '#shared/llm-client.ts';
import { MemoryStore } from '#shared/memory-store.ts';
import type { EmfSink } from '#shared/telemetry.ts';

/**
 * The supervisor in the local runtime: the same `Supervisor` the scheduled function runs on AWS, on a timer, talking
 * to the emulators and to the local Lambda control API (the event source mappings).
 */

export interface LocalSupervisorOptions {
  config: SluiceConfig;
  /** The stack's outputs: the mapping ids and queue URLs. */
  outputs: Readonly<Record<string, string>>;
  dynamo: DynamoDBDocumentClient;
  sqs: SQSClient;
  lambda: LambdaClient;
  prober: LlmProber;
  logger: Logger;
  emf?: EmfSink | undefined;
  now?: () => number;
  /** Waits between re-enrichment batches (a fake clock's in tests). */
  sleep?: (ms: number) => Promise<void>;
  /** Wraps the supervisor's memory store (chaos runs make it fail during a memory outage, as the stages' does). */
  wrapMemory?: ((memory: MemoryStore) => MemoryStore) | undefined;
  /** Told about every look (chaos runs check what the supervisor did). */
  onLook?: ((report: LookReport) => void) | undefined;
}

/** Looks kept for `reports`. */
const KEPT_REPORTS = 100;

/**
 * @example
 * const supervisor = new LocalSupervisor({ config, outputs, dynamo, sqs, lambda, prober, logger });
 * supervisor.start();           // a look every supervisor.intervalSeconds
 * await supervisor.look();      // or one now
 * await supervisor.stop();
 */
export class LocalSupervisor {
  readonly supervisor: Supervisor;
  readonly intervalMs: number;
  readonly #lambda: LambdaClient;
  readonly #logger: Logger;
  readonly #onLook: ((report: LookReport) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #stopped = false;
  #reports: LookReport[] = [];

  constructor(options: LocalSupervisorOptions) {
    const config = supervisorConfigFor(options.config);
    const output = (key: string) => {
      const value = options.outputs[key];
      if (value === undefined) throw new Error(`the local stack has no ${key} output: the supervisor needs it`);
      return value;
    };
    this.intervalMs = config.intervalMs;
    this.#lambda = options.lambda;
    this.#logger = options.logger;
    this.#onLook = options.onLook;
    this.supervisor = new Supervisor({
      config,
      dynamo: options.dynamo,
      tableName: output('StateTableName'),
      lambda: options.lambda,
      sqs: options.sqs,
      stages: {
        extract: { mappingId: output('ExtractEventSourceMappingId'), queueUrl: output('IntakeQueueUrl') },
        draft: { mappingId: output('DraftEventSourceMappingId'), queueUrl: output('DraftQueueUrl') },
      },
      prober: options.prober,
      memory: (options.wrapMemory ?? ((memory: MemoryStore) => memory))(
        new MemoryStore(options.dynamo, output('MemoryTableName')),
      ),
      logger: options.logger,
      emf: options.emf,
      ...(options.now && { now: options.now }),
      ...(options.sleep && { sleep: options.sleep }),
    });
  }

  /** Looks every `intervalMs` until stopped (the first look one interval after the start). */
  start(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    const schedule = () => {
      this.#timer = setTimeout(() => {
        this.#running = this.look()
          .catch((error: unknown) => this.#logger.error('supervisor look failed', { error }))
          .finally(() => {
            this.#running = undefined;
            if (!this.#stopped) schedule();
          });
      }, this.intervalMs);
      this.#timer.unref();
    };
    schedule();
  }

  /** One look now. */
  async look(): Promise<LookReport> {
    const report = await this.supervisor.look();
    this.#reports.push(report);
    if (this.#reports.length > KEPT_REPORTS) this.#reports.shift();
    this.#onLook?.(report);
    return report;
  }

  /** The latest looks (up to a hundred), oldest first. */
  get reports(): readonly LookReport[] {
    return this.#reports;
  }

  /** Stops the timer and waits for a look in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    this.#lambda.destroy();
  }
}
