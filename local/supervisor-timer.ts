import { randomUUID } from 'node:crypto';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { LambdaClient } from '@aws-sdk/client-lambda';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { PIPELINE } from '#functions/pipeline.ts';
import { type LookReport, Supervisor } from '#functions/supervisor/supervisor.ts';
import type { SluiceConfig } from '#lib/config.ts';
import { queueOutputKeys, stageOutputKeys } from '#lib/outputs.ts';
import { supervisorConfigFor } from '#lib/runtime-configs.ts';
import type { LlmProber } from '#shared/llm-client.ts';
import { MemoryStore } from '#shared/memory-store.ts';
import type { Pipeline } from '#shared/pipeline.ts';
import type { EmfSink } from '#shared/telemetry.ts';
import { createLambdaContext } from './lambda-context.ts';
import type { LocalFunction } from './resources.ts';

/**
 * The supervisor in the local runtime: the same `Supervisor` the scheduled function runs on AWS, on a timer, talking
 * to the emulators and to the local Lambda control API (the event source mappings). Either in process, a look every
 * interval, or as the function's bundle invoked on its schedule (see {@link LocalSupervisor.bundled}).
 */

export interface LocalSupervisorOptions {
  config: SluiceConfig;
  /**
   * The stages the supervisor watches; `config` was loaded for them.
   * @default the pipeline sluice ships
   */
  pipeline?: Pipeline;
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

/** The supervisor function's bundle, as `sluice dev --bundles` runs it. */
export interface BundledSupervisorOptions {
  /** Invokes the bundle (its handler, in its own execution environment) with a scheduled event. */
  invoke: (event: ScheduledEvent, context: Context) => Promise<unknown>;
  function: Pick<LocalFunction, 'functionName' | 'functionArn' | 'memoryMb' | 'timeoutSeconds'>;
  /** The ARN of the schedule's rule, named in the event as EventBridge names it. */
  ruleArn: string;
  region: string;
  accountId: string;
  /** Time between two scheduled invocations: the rule's rate. */
  scheduleMs: number;
  logger: Logger;
  onLook?: ((report: LookReport) => void) | undefined;
}

/** What the timer runs each period, and how it stops. */
interface LookSource {
  /** One scheduled run: its looks, in order. */
  run: () => Promise<LookReport[]>;
  periodMs: number;
  logger: Logger;
  onLook: ((report: LookReport) => void) | undefined;
  close: () => void;
}

/**
 * @example
 * const supervisor = new LocalSupervisor({ config, outputs, dynamo, sqs, lambda, prober, logger });
 * supervisor.start();           // a look every supervisor.intervalSeconds
 * await supervisor.look();      // or one now
 * await supervisor.stop();
 */
export class LocalSupervisor {
  /** Time between two runs of the timer: the look interval in process, the schedule's rate for a bundle. */
  readonly intervalMs: number;
  readonly #source: LookSource;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #stopped = false;
  #reports: LookReport[] = [];

  constructor(options: LocalSupervisorOptions | LookSource) {
    this.#source = 'run' in options ? options : LocalSupervisor.#inProcess(options);
    this.intervalMs = this.#source.periodMs;
  }

  /**
   * The supervisor function's bundle invoked on its schedule, as EventBridge invokes it: each invocation takes its
   * looks (several, spaced by the interval, when the interval is under the schedule's minute) and returns them.
   * @example
   * const supervisor = LocalSupervisor.bundled({ invoke: bundle.handler, function: fn, ruleArn, region, accountId, scheduleMs: 60_000, logger });
   */
  static bundled(options: BundledSupervisorOptions): LocalSupervisor {
    const { function: fn } = options;
    return new LocalSupervisor({
      periodMs: options.scheduleMs,
      logger: options.logger,
      onLook: options.onLook,
      close: () => {},
      run: async () => {
        const event: ScheduledEvent = {
          version: '0',
          id: randomUUID(),
          'detail-type': 'Scheduled Event',
          source: 'aws.events',
          account: options.accountId,
          time: new Date().toISOString(),
          region: options.region,
          resources: [options.ruleArn],
          detail: {},
        };
        const context = createLambdaContext({
          functionName: fn.functionName,
          functionArn: fn.functionArn,
          memoryMb: fn.memoryMb,
          deadline: Date.now() + fn.timeoutSeconds * 1000,
        });
        const reports = await options.invoke(event, context);
        if (!Array.isArray(reports)) throw new Error(`${fn.functionName} answered no list of looks`);
        return reports as LookReport[];
      },
    });
  }

  static #inProcess(options: LocalSupervisorOptions): LookSource {
    const pipeline = options.pipeline ?? PIPELINE;
    const config = supervisorConfigFor(options.config, pipeline);
    const output = (key: string) => {
      const value = options.outputs[key];
      if (value === undefined) throw new Error(`the local stack has no ${key} output: the supervisor needs it`);
      return value;
    };
    const supervisor = new Supervisor({
      config,
      dynamo: options.dynamo,
      tableName: output('StateTableName'),
      lambda: options.lambda,
      sqs: options.sqs,
      stages: Object.fromEntries(
        pipeline.stages.map((stage) => [
          stage.name,
          {
            mappingId: output(stageOutputKeys(stage.constructId).eventSourceMappingId),
            queueUrl: output(queueOutputKeys(stage.queueKey).url),
          },
        ]),
      ),
      prober: options.prober,
      memory: (options.wrapMemory ?? ((memory: MemoryStore) => memory))(
        new MemoryStore(options.dynamo, output('MemoryTableName')),
      ),
      logger: options.logger,
      emf: options.emf,
      ...(options.now && { now: options.now }),
      ...(options.sleep && { sleep: options.sleep }),
    });
    return {
      run: async () => [await supervisor.look()],
      periodMs: config.intervalMs,
      logger: options.logger,
      onLook: options.onLook,
      close: () => options.lambda.destroy(),
    };
  }

  /** Runs every `intervalMs` until stopped (the first run one interval after the start). */
  start(): void {
    if (this.#timer !== undefined || this.#stopped) return;
    const schedule = () => {
      this.#timer = setTimeout(() => {
        this.#running = this.look()
          .catch((error: unknown) => this.#source.logger.error('supervisor look failed', { error }))
          .finally(() => {
            this.#running = undefined;
            if (!this.#stopped) schedule();
          });
      }, this.intervalMs);
      this.#timer.unref();
    };
    schedule();
  }

  /** One run now (one look in process; a bundle's invocation, whose looks are all kept): its last look. */
  async look(): Promise<LookReport> {
    const reports = await this.#source.run();
    for (const report of reports) {
      this.#reports.push(report);
      if (this.#reports.length > KEPT_REPORTS) this.#reports.shift();
      this.#source.onLook?.(report);
    }
    const last = reports.at(-1);
    if (last === undefined) throw new Error('the supervisor took no look');
    return last;
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
    this.#source.close();
  }
}
