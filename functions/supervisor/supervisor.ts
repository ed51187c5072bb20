import type { Logger } from '@aws-lambda-powertools/logger';
import { type LambdaClient, UpdateEventSourceMappingCommand } from '@aws-sdk/client-lambda';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { DailyBudget, utcDay } from '#shared/budget.ts';
import { readBreakerRecord } from '#shared/circuit-breaker.ts';
import { errorText } from '#shared/errors.ts';
import type { LlmProber } from '#shared/llm-client.ts';
import type { MemoryStore } from '#shared/memory-store.ts';
import { RateLimiter } from '#shared/rate-limiter.ts';
import type { Stage } from '#shared/runtime-config.ts';
import {
  PAUSED_STATES,
  readControlRecord,
  readMapping,
  type StageControlRecord,
  setStagePaused,
} from '#shared/stage-control.ts';
import { limitKey, supervisorKey, type TableKey, usageKey } from '#shared/table-keys.ts';
import type { EmfSink } from '#shared/telemetry.ts';
import { Telemetry } from '#shared/telemetry.ts';
import type { SupervisorAction, SupervisorActionKind } from './actions.ts';
import {
  adaptConcurrency,
  type BudgetRoom,
  budgetPause,
  budgetRecovered,
  type PauseReason,
  providerPause,
  type QueueDepth,
  type StageCounters,
  smallestCallNano,
  stageModels,
  verifyResume,
} from './policy.ts';
import { type ProbeContext, probeModel } from './probe.ts';
import { reenrich } from './reenrichment.ts';
import type { SupervisedStage, SupervisorRuntimeConfig } from './runtime-config.ts';

/**
 * The supervisor: the loop that detects, decides, acts and verifies, one look at a time (every minute on AWS, on a
 * timer locally). For each stage:
 *
 * - **Pause.** When every model the stage may call (its own, the fallback) has had its circuit breaker open for
 *   `pauseAfterMs`, or the daily budget has no room for the stage's smallest call at two looks in a row, the
 *   stage's event source mapping is disabled (`by: 'auto'`), so no function spins on deferrals; the messages wait
 *   in the queue.
 * - **Probe and resume.** While it paused a stage, the supervisor is the only caller: it takes the breaker's
 *   half-open lease and makes one one-token call once the cooldown allows (the provider's answer closes the
 *   breaker), or looks whether the budget has room again (a new UTC day, a raised budget); then it enables the
 *   mapping and, at the next looks, verifies that the stage processes items (its call count grows) or that its
 *   queue is empty. An operator's pause is never undone.
 * - **Adaptive concurrency.** While a stage runs, its mapping's maximum concurrency follows the provider: one more
 *   after a look with calls and a backlog but no sign of strain, times `decreaseFactor` after a look whose 429s
 *   passed `throttleRatio` of its calls or whose mean latency passed `latencyFactor` × the healthy baseline;
 *   never above the configured maximum, never below 2.
 *
 * And once the memory store answers the supervisor's own lookup (a closed breaker alone is not enough), items published without history are re-queued for a redraft with history
 * (at most `maxPerRun` a look, `perSecond`, `maxPerItem` times per item; a repeated message is harmless: the draft
 * stage redrafts an item only while it is published without history).
 *
 * Everything it decides is logged, emitted as a metric and kept in one record per stage (`SUPERVISOR#<stage>`)
 * that `sluice status` and the console show. The decisions are pure functions (policy.ts); this class reads what
 * they need and carries them out; probes and re-enrichment are in probe.ts and reenrichment.ts.
 */

/** What the supervisor keeps about a stage between looks (`pk = SUPERVISOR#<stage>`, `sk = SUPERVISOR`). */
export interface SupervisorStageRecord {
  stage: Stage;
  /** Why the supervisor paused the stage, while it is paused by the supervisor. */
  pausedFor?: 'provider' | 'budget' | undefined;
  pausedAt?: number | undefined;
  /** The first look at which the budget had no room for the stage's smallest call (pause at the next one). */
  budgetShortSince?: number | undefined;
  /** A resume not verified yet: when, and the stage's call count then. */
  verify?: { since: number; calls: number } | undefined;
  /** The stage's counters at the last look, to take differences. */
  counters?: { day: string; calls: number; latencyMsTotal: number; throttled: number } | undefined;
  /** Mean call latency of healthy looks, slowly following (quickly downwards). */
  baselineLatencyMs?: number | undefined;
  /** The event source's maximum concurrency as last seen or set. */
  concurrency?: number | undefined;
  /** The last thing the supervisor did to the stage, for `sluice status` and the console. */
  lastAction?: { at: string; action: SupervisorActionKind; detail: string } | undefined;
  /** When this record was written (ISO 8601): the supervisor's last look. */
  lookedAt?: string | undefined;
}

/** What one look did for one stage. */
export interface StageLook {
  stage: Stage;
  /** The mapping's state after the look. */
  state: string;
  paused: boolean;
  pausedBy: 'operator' | 'auto' | null;
  concurrency: number | null;
  /** What the supervisor did to the stage at this look. */
  actions: SupervisorAction[];
  /**
   * Since when every model of the stage had its breaker open, as this look read them (ISO 8601), when they all
   * had; absent when one was closed or the stage was paused. The pause comes once this is `pauseAfterSeconds` old.
   */
  unavailableSince?: string;
}

export interface LookReport {
  at: string;
  stages: StageLook[];
  reenriched: number;
  /** Problems met (a mapping that could not be read, a failed send): the look goes on with the rest. */
  errors: string[];
}

export interface SupervisorOptions {
  config: SupervisorRuntimeConfig;
  dynamo: DynamoDBDocumentClient;
  tableName: string;
  lambda: LambdaClient;
  sqs: SQSClient;
  /** Each stage's event source mapping UUID and input queue URL. */
  stages: Readonly<Record<Stage, { mappingId: string; queueUrl: string }>>;
  prober: LlmProber;
  /** The memory store, probed with one lookup (through its breaker) while the memory breaker is open. */
  memory?: MemoryStore | undefined;
  logger: Logger;
  /** Where the EMF metric lines go (stdout on Lambda). */
  emf?: EmfSink | undefined;
  now?: () => number;
  /** Waits between re-enrichment batches; a fake clock's in tests. */
  sleep?: (ms: number) => Promise<void>;
}

/**
 * @example
 * const supervisor = new Supervisor({ config, dynamo, tableName, lambda, sqs, stages, prober, logger });
 * const report = await supervisor.look();
 */
export class Supervisor {
  readonly #options: SupervisorOptions;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #budget: DailyBudget;
  readonly #probes: ProbeContext;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#budget = new DailyBudget(options.dynamo, options.tableName, options.config.dailyBudgetUsd, this.#now);
    this.#probes = {
      ...options,
      budget: this.#budget,
      // Only for holds after a 429 (the stages' limiter reads them); the supervisor reserves nothing.
      limiter: new RateLimiter(options.dynamo, options.tableName, {}, 0, this.#now),
      now: this.#now,
    };
  }

  /** One look at every stage (one after the other, so two stages on one model never probe it twice), then memory. */
  async look(): Promise<LookReport> {
    const errors: string[] = [];
    const stages: StageLook[] = [];
    for (const stage of Object.keys(this.#options.config.stages)) {
      const telemetry = new Telemetry({ stage, sink: this.#options.emf });
      try {
        stages.push(await this.#lookAtStage(stage, telemetry));
      } catch (error) {
        const message = `${stage}: ${errorText(error)}`;
        this.#options.logger.error('supervisor could not look at a stage', { stage, error });
        errors.push(message);
      } finally {
        telemetry.flush();
      }
    }
    let reenriched = 0;
    try {
      const { reenrichStage } = this.#options.config;
      const draft = stages.find((look) => look.stage === reenrichStage);
      if (this.#options.config.reenrich.enabled && draft !== undefined && !draft.paused) {
        const context = { ...this.#options, now: this.#now, sleep: this.#sleep };
        reenriched = await reenrich(context, this.#wiring(draft.stage).queueUrl);
      }
    } catch (error) {
      this.#options.logger.error('supervisor could not re-enrich', { error });
      errors.push(`re-enrichment: ${errorText(error)}`);
    }
    return { at: new Date(this.#now()).toISOString(), stages, reenriched, errors };
  }

  async #lookAtStage(stage: Stage, telemetry: Telemetry): Promise<StageLook> {
    const { dynamo, tableName, lambda } = this.#options;
    const { mappingId } = this.#wiring(stage);
    const [stored, mapping, control] = await Promise.all([
      this.#readRecord(stage),
      readMapping(lambda, stage, mappingId),
      readControlRecord(dynamo, tableName, stage),
    ]);
    const record: SupervisorStageRecord = { ...stored, stage };
    const look: StageLook = {
      stage,
      state: mapping.State ?? 'unknown',
      paused: PAUSED_STATES.has(mapping.State ?? ''),
      pausedBy: null,
      concurrency: mapping.ScalingConfig?.MaximumConcurrency ?? null,
      actions: [],
    };
    const now = this.#now();
    const act = (action: SupervisorAction) => {
      look.actions.push(action);
      record.lastAction = { at: new Date(now).toISOString(), action: action.kind, detail: action.detail };
    };

    if (look.paused) {
      look.pausedBy = control?.paused === true ? control.by : 'operator';
      if (control?.paused === true && control.by === 'auto') {
        await this.#tryResume(stage, record, control, telemetry, act, look);
      } else {
        // An operator's pause (or one made outside sluice): never undone here.
        record.pausedFor = undefined;
        record.verify = undefined;
      }
    } else {
      // An operator who has just resumed the stage is trying it: give it the threshold before pausing it again.
      const operatorResumed =
        control !== undefined &&
        !control.paused &&
        control.by === 'operator' &&
        now - Date.parse(control.at) < this.#options.config.pauseAfterMs;
      const reason = operatorResumed ? undefined : await this.#pauseReason(stage, record, look, now);
      if (reason !== undefined) {
        const outcome = await setStagePaused({ lambda, dynamo, tableName }, stage, mappingId, 'pause', {
          by: 'auto',
          reason: reason.text,
          now,
        });
        record.pausedFor = reason.kind;
        record.pausedAt = now;
        record.verify = undefined;
        record.budgetShortSince = undefined;
        look.paused = true;
        look.pausedBy = 'auto';
        look.state = outcome.state;
        telemetry.count('StageAutoPaused');
        this.#options.logger.warn('stage paused', { stage, reason: reason.text, mappingState: outcome.state });
        act({ kind: 'paused', detail: reason.text });
      } else {
        const counters = await this.#counters(stage);
        const depth = await this.#queueDepth(stage);
        this.#verify(stage, record, counters.calls, depth, now, telemetry, act);
        const next = this.#adapt(stage, record, mapping, counters, depth);
        if (next !== undefined) {
          await lambda.send(
            new UpdateEventSourceMappingCommand({ UUID: mappingId, ScalingConfig: { MaximumConcurrency: next.value } }),
          );
          this.#options.logger.info('stage concurrency adapted', {
            stage,
            from: look.concurrency,
            to: next.value,
            why: next.why,
          });
          act({
            kind: next.value > (look.concurrency ?? 0) ? 'concurrency up' : 'concurrency down',
            detail: `${look.concurrency} → ${next.value}: ${next.why}`,
          });
          look.concurrency = next.value;
        }
        record.counters = { ...counters, day: utcDay(now) };
      }
    }
    record.concurrency = look.concurrency ?? undefined;
    record.lookedAt = new Date(now).toISOString();
    telemetry.count('StagePaused', look.paused ? 1 : 0);
    if (look.concurrency !== null) telemetry.count('EffectiveConcurrency', look.concurrency);
    await this.#writeRecord(record);
    return look;
  }

  /** Why the stage should be paused now, if it should. Updates the budget-short mark and the look's unavailableSince. */
  async #pauseReason(
    stage: Stage,
    record: SupervisorStageRecord,
    look: StageLook,
    now: number,
  ): Promise<PauseReason | undefined> {
    const { config, dynamo, tableName } = this.#options;
    const models = stageModels(this.#settings(stage));
    const breakers = await Promise.all(models.map((model) => readBreakerRecord(dynamo, tableName, model)));
    const openSince = breakers.map((breaker) =>
      breaker.state === 'closed' ? undefined : (breaker.openSince ?? breaker.openedAt ?? now),
    );
    const provider = providerPause(models, openSince, now, config.pauseAfterMs);
    // Recorded so a look can be judged on its own clock (the chaos checks): pause once this is the threshold old.
    if (provider.unavailableSince !== undefined)
      look.unavailableSince = new Date(provider.unavailableSince).toISOString();
    if (provider.reason !== undefined) return provider.reason;
    const smallest = smallestCallNano(this.#settings(stage), config.prices);
    const budget = budgetPause(
      stage,
      await this.#budgetRoom(now),
      smallest,
      record.budgetShortSince,
      now,
      config.dailyBudgetUsd,
    );
    record.budgetShortSince = budget.budgetShortSince;
    return budget.reason;
  }

  /** The stage was paused by the supervisor: probe (or look at the budget) and resume when healthy. */
  async #tryResume(
    stage: Stage,
    record: SupervisorStageRecord,
    control: StageControlRecord,
    telemetry: Telemetry,
    act: (action: SupervisorAction) => void,
    look: StageLook,
  ): Promise<void> {
    const now = this.#now();
    const { config } = this.#options;
    const settings = this.#settings(stage);
    let healthy: string | undefined;
    if (record.pausedFor === 'budget') {
      healthy = budgetRecovered(
        await this.#budgetRoom(now),
        smallestCallNano(settings, config.prices),
        config.dailyBudgetUsd,
      );
    } else {
      for (const model of stageModels(settings)) {
        healthy = await probeModel(this.#probes, stage, model, telemetry);
        if (healthy !== undefined) break;
      }
    }
    if (healthy === undefined) return;
    const { lambda, dynamo, tableName } = this.#options;
    const outcome = await setStagePaused(
      { lambda, dynamo, tableName },
      stage,
      this.#wiring(stage).mappingId,
      'resume',
      {
        by: 'auto',
        reason: healthy,
        now,
      },
    );
    const counters = await this.#counters(stage);
    record.verify = { since: now, calls: counters.calls };
    record.counters = { ...counters, day: utcDay(now) };
    record.pausedFor = undefined;
    record.pausedAt = undefined;
    look.paused = false;
    look.pausedBy = null;
    look.state = outcome.state;
    telemetry.count('StageAutoResumed');
    this.#options.logger.info('stage resumed', { stage, reason: healthy, pausedAt: control.at });
    act({ kind: 'resumed', detail: healthy });
  }

  /** Carries out verifyResume's verdict on a resume not verified yet. */
  #verify(
    stage: Stage,
    record: SupervisorStageRecord,
    calls: number,
    depth: QueueDepth,
    now: number,
    telemetry: Telemetry,
    act: (action: SupervisorAction) => void,
  ): void {
    if (record.verify === undefined) return;
    const verdict = verifyResume(record.verify, calls, depth, now, this.#options.config.verifyMs);
    if (verdict === undefined) return;
    record.verify = undefined;
    if (verdict.kind === 'resume verified') {
      telemetry.count('ResumeVerified');
      this.#options.logger.info('resume verified: items flow', { stage, detail: verdict.detail });
    } else {
      telemetry.count('ResumeUnverified');
      this.#options.logger.error('resume not verified: the stage processes nothing', { stage, detail: verdict.detail });
    }
    act(verdict);
  }

  /** The AIMD step for a running stage (policy.ts); keeps the latency baseline it learns. */
  #adapt(
    stage: Stage,
    record: SupervisorStageRecord,
    mapping: { State?: string | undefined; ScalingConfig?: { MaximumConcurrency?: number | undefined } | undefined },
    counters: StageCounters,
    depth: QueueDepth,
  ): { value: number; why: string } | undefined {
    if (mapping.State !== 'Enabled') return undefined;
    const ceiling = this.#settings(stage).maxConcurrency;
    const step = adaptConcurrency({
      settings: this.#options.config.adaptiveConcurrency,
      ceiling,
      current: mapping.ScalingConfig?.MaximumConcurrency ?? ceiling,
      previous: record.counters,
      counters,
      today: utcDay(this.#now()),
      depth,
      baselineLatencyMs: record.baselineLatencyMs,
    });
    record.baselineLatencyMs = step.baselineLatencyMs;
    return step.next;
  }

  #settings(stage: Stage): SupervisedStage {
    const settings = this.#options.config.stages[stage];
    if (settings === undefined) throw new Error(`stage ${stage} is not in the supervisor's config`);
    return settings;
  }

  #wiring(stage: Stage): { mappingId: string; queueUrl: string } {
    const wiring = this.#options.stages[stage];
    if (wiring === undefined) throw new Error(`stage ${stage} has no queue or event source mapping configured`);
    return wiring;
  }

  async #budgetRoom(now: number): Promise<BudgetRoom> {
    const day = utcDay(now);
    const { committedNano } = await this.#budget.read(day);
    return { day, committedNano, roomNano: this.#budget.limitNano - committedNano };
  }

  /** The stage's calls and their latency today (every model it may call), and its models' 429s (ever). */
  async #counters(stage: Stage): Promise<StageCounters> {
    const day = utcDay(this.#now());
    const models = stageModels(this.#settings(stage));
    const rows = await Promise.all(
      models.flatMap((model) => [this.#get(usageKey(day, stage, model)), this.#get(limitKey(model))]),
    );
    const counters: StageCounters = { calls: 0, latencyMsTotal: 0, throttled: 0 };
    for (const [index, row] of rows.entries()) {
      if (index % 2 === 0) {
        counters.calls += Number(row?.calls ?? 0);
        counters.latencyMsTotal += Number(row?.latencyMsTotal ?? 0);
      } else {
        counters.throttled += Number(row?.throttled ?? 0);
      }
    }
    return counters;
  }

  async #queueDepth(stage: Stage): Promise<QueueDepth> {
    const { Attributes = {} } = await this.#options.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: this.#wiring(stage).queueUrl,
        AttributeNames: [
          'ApproximateNumberOfMessages',
          'ApproximateNumberOfMessagesNotVisible',
          'ApproximateNumberOfMessagesDelayed',
        ],
      }),
    );
    const visible = Number(Attributes.ApproximateNumberOfMessages ?? 0);
    const total =
      visible +
      Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0) +
      Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0);
    return { visible, total };
  }

  async #readRecord(stage: Stage): Promise<Partial<SupervisorStageRecord>> {
    const item = await this.#get(supervisorKey(stage));
    // Written only by this class.
    return (item ?? {}) as Partial<SupervisorStageRecord>;
  }

  async #writeRecord(record: SupervisorStageRecord): Promise<void> {
    await this.#options.dynamo.send(
      new PutCommand({
        TableName: this.#options.tableName,
        Item: { ...supervisorKey(record.stage), ...record },
      }),
    );
  }

  async #get(key: TableKey): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.#options.dynamo.send(
      new GetCommand({ TableName: this.#options.tableName, Key: { ...key }, ConsistentRead: true }),
    );
    return Item;
  }
}

/**
 * The supervisor's record of a stage, for `sluice status` and the console; undefined before its first look.
 * @example const record = await readSupervisorRecord(dynamo, 'StateTable', 'extract');
 */
export async function readSupervisorRecord(
  dynamo: DynamoDBDocumentClient,
  tableName: string,
  stage: Stage,
): Promise<SupervisorStageRecord | undefined> {
  const { Item } = await dynamo.send(
    new GetCommand({
      TableName: tableName,
      Key: supervisorKey(stage),
      ConsistentRead: true,
    }),
  );
  if (Item === undefined) return undefined;
  const { pk: _pk, sk: _sk, ...record } = Item;
  // Written only by the Supervisor class.
  return record as SupervisorStageRecord;
}
