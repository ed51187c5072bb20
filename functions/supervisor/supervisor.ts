import type { Logger } from '@aws-lambda-powertools/logger';
import {
  type EventSourceMappingConfiguration,
  type LambdaClient,
  UpdateEventSourceMappingCommand,
} from '@aws-sdk/client-lambda';
import { GetQueueAttributesCommand, SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DailyBudget, utcDay } from '#shared/budget.ts';
import { costNanoUsd } from '#shared/call-ledger.ts';
import { CircuitBreaker, readBreakerRecord } from '#shared/circuit-breaker.ts';
import { itemsWithoutHistory } from '#shared/degraded-items.ts';
import {
  BreakerOpenError,
  BudgetExhaustedError,
  describeError,
  errorText,
  failureLogFields,
  LlmCallError,
} from '#shared/errors.ts';
import type { LlmProber } from '#shared/llm-client.ts';
import type { MemoryStore } from '#shared/memory-store.ts';
import { MEMORY_DEPENDENCY } from '#shared/metric-catalogue.ts';
import { RateLimiter } from '#shared/rate-limiter.ts';
import type { Stage } from '#shared/runtime-config.ts';
import {
  PAUSED_STATES,
  readControlRecord,
  readMapping,
  type StageControlRecord,
  setStagePaused,
} from '#shared/stage-control.ts';
import type { EmfSink } from '#shared/telemetry.ts';
import { Telemetry } from '#shared/telemetry.ts';
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
 * that `sluice status` and the console show.
 */

/** Adaptive concurrency never goes below this: one slow call must not stall a stage. */
const MIN_CONCURRENCY = 2;
/**
 * Latency growth smaller than this is noise, not a provider under strain: a provider's calls take seconds, and a
 * few milliseconds doubled (a busy machine, a fast local server) must not cut the concurrency.
 */
const MIN_LATENCY_GROWTH_MS = 1000;
/** A look counts latency only over at least this many calls. */
const MIN_CALLS_FOR_LATENCY = 3;
/** SQS takes at most ten entries a batch. */
const SEND_BATCH = 10;
/** How long the limiter holds a model after a probe answered 429 without saying for how long. */
const DEFAULT_429_WAIT_MS = 1000;

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
  lastAction?: { at: string; action: string; detail: string } | undefined;
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
  actions: string[];
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
  /** Only for holds after a 429 (the stages' limiter reads them); the supervisor reserves nothing. */
  readonly #limiter: RateLimiter;

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#budget = new DailyBudget(options.dynamo, options.tableName, options.config.dailyBudgetUsd, this.#now);
    this.#limiter = new RateLimiter(options.dynamo, options.tableName, {}, 0, this.#now);
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
      if (this.#options.config.reenrich.enabled && draft !== undefined && !draft.paused)
        reenriched = await this.#reenrich();
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
    const act = (action: string, detail: string) => {
      look.actions.push(`${action}: ${detail}`);
      record.lastAction = { at: new Date(now).toISOString(), action, detail };
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
        act('paused', reason.text);
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
          act(
            next.value > (look.concurrency ?? 0) ? 'concurrency up' : 'concurrency down',
            `${look.concurrency} → ${next.value}: ${next.why}`,
          );
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
  ): Promise<{ kind: 'provider' | 'budget'; text: string } | undefined> {
    const { pauseAfterMs } = this.#options.config;
    const models = this.#models(stage);
    const breakers = await Promise.all(
      models.map((model) => readBreakerRecord(this.#options.dynamo, this.#options.tableName, model)),
    );
    const since = breakers.map((breaker) =>
      breaker.state === 'closed' ? undefined : (breaker.openSince ?? breaker.openedAt ?? now),
    );
    // Recorded so a look can be judged on its own clock (the chaos checks): pause once this is the threshold old.
    if (since.every((at) => at !== undefined)) look.unavailableSince = new Date(Math.max(...since)).toISOString();
    if (since.every((at) => at !== undefined && now - at >= pauseAfterMs)) {
      const oldest = Math.min(...since.map((at) => at ?? now));
      return {
        kind: 'provider',
        text: `${models.join(' and ')} unavailable since ${new Date(oldest).toISOString()} (breaker open ${Math.round((now - oldest) / 1000)} s, threshold ${Math.round(pauseAfterMs / 1000)} s)`,
      };
    }
    const room = await this.#budgetRoom(now);
    const smallest = this.#smallestCallNano(stage);
    if (room.roomNano >= smallest) {
      record.budgetShortSince = undefined;
      return undefined;
    }
    if (record.budgetShortSince === undefined) {
      // Reservations of calls in flight count until they settle: wait one look before calling it spent.
      record.budgetShortSince = now;
      return undefined;
    }
    return {
      kind: 'budget',
      text: `the daily budget of $${this.#options.config.dailyBudgetUsd} is spent for ${room.day} ($${(room.committedNano / 1e9).toFixed(4)} committed; the smallest ${stage} call may cost $${(smallest / 1e9).toFixed(6)})`,
    };
  }

  /** The stage was paused by the supervisor: probe (or look at the budget) and resume when healthy. */
  async #tryResume(
    stage: Stage,
    record: SupervisorStageRecord,
    control: StageControlRecord,
    telemetry: Telemetry,
    act: (action: string, detail: string) => void,
    look: StageLook,
  ): Promise<void> {
    const now = this.#now();
    let healthy: string | undefined;
    if (record.pausedFor === 'budget') {
      const room = await this.#budgetRoom(now);
      if (room.roomNano >= this.#smallestCallNano(stage)) {
        healthy = `the budget has room again ($${(room.committedNano / 1e9).toFixed(4)} of $${this.#options.config.dailyBudgetUsd} committed on ${room.day})`;
      }
    } else {
      for (const model of this.#models(stage)) {
        healthy = await this.#probe(stage, model, telemetry);
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
    act('resumed', healthy);
  }

  /**
   * One probe of a model through its breaker: only when the breaker lets a prober in (its cooldown over), and as
   * that one prober, so the answer closes the breaker for every stage. Returns why the model is healthy, or
   * undefined.
   */
  async #probe(stage: Stage, model: string, telemetry: Telemetry): Promise<string | undefined> {
    const { config, dynamo, tableName, logger } = this.#options;
    const breaker = new CircuitBreaker(
      dynamo,
      tableName,
      model,
      { ...config.breaker, probeLeaseMs: config.llm.timeoutMs + 5000, cacheMs: 0 },
      this.#now,
      (change) => logger.info('circuit breaker changed state', change),
    );
    const state = await breaker.state();
    if (state.state === 'closed') return `${model}'s breaker is closed`;
    let permit: Awaited<ReturnType<CircuitBreaker['acquire']>>;
    try {
      permit = await breaker.acquire(`supervisor#${stage}`);
    } catch (error) {
      if (error instanceof BreakerOpenError) return undefined;
      throw error;
    }
    let reservation: Awaited<ReturnType<DailyBudget['reserve']>>;
    const price = config.prices[model];
    try {
      // A few prompt tokens and one completion token: reserve a generous worst case.
      reservation = await this.#budget.reserve(price ? costNanoUsd(price, 64, 1) : 0);
    } catch (error) {
      await breaker.release(permit);
      if (error instanceof BudgetExhaustedError) return undefined;
      throw error;
    }
    telemetry.dependency(model, { ProbeCalls: 1 });
    try {
      const answer = await this.#options.prober.probe({ model, timeoutMs: config.llm.timeoutMs, caller: 'supervisor' });
      const cost = price ? costNanoUsd(price, answer.promptTokens, answer.completionTokens) : 0;
      await Promise.all([
        this.#budget.settle(reservation, cost),
        breaker.onSuccess(permit),
        this.#recordProbe(stage, model, 'ok', answer.latencyMs, answer.promptTokens, answer.completionTokens, cost),
      ]);
      return `probe of ${model} answered in ${answer.latencyMs} ms`;
    } catch (error) {
      if (error instanceof LlmCallError && error.status === 429) {
        // The provider answered: it is up, only busy. The breaker closes and the stage resumes; the shared
        // limiter holds every caller until the Retry-After, and then paces them, rather than the stage staying
        // paused until a probe happens to find the provider idle.
        const retryAfterMs = error.retryAfterMs ?? DEFAULT_429_WAIT_MS;
        await Promise.all([
          this.#budget.settle(reservation, 0),
          breaker.onSuccess(permit),
          this.#limiter.holdUntil(model, this.#now() + retryAfterMs),
          this.#recordProbe(stage, model, 'throttled', 0, 0, 0, 0, errorText(error)),
        ]);
        return `probe of ${model} answered 429 (the provider is up; calls held ${Math.round(retryAfterMs / 1000)} s by the limiter)`;
      }
      telemetry.dependency(model, { ProbeFailures: 1 });
      const providerFault = error instanceof LlmCallError && error.isProviderFailure;
      await Promise.all([
        this.#budget.settle(reservation, 0),
        providerFault ? breaker.onFailure(permit) : breaker.release(permit),
        this.#recordProbe(stage, model, 'failed', 0, 0, 0, 0, errorText(error)),
      ]);
      logger.warn('probe failed: the stage stays paused', { stage, model, ...failureLogFields(describeError(error)) });
      return undefined;
    }
  }

  /** Probe calls are kept in their own partition per day (`PROBE#<day>`): they belong to no item. */
  async #recordProbe(
    stage: Stage,
    model: string,
    outcome: 'ok' | 'throttled' | 'failed',
    latencyMs: number,
    promptTokens: number,
    completionTokens: number,
    costNanoUsd: number,
    error?: string,
  ): Promise<void> {
    const at = new Date(this.#now()).toISOString();
    await this.#options.dynamo.send(
      new PutCommand({
        TableName: this.#options.tableName,
        Item: {
          pk: `PROBE#${at.slice(0, 10)}`,
          sk: `${at}#${stage}#${model}`,
          stage,
          model,
          outcome,
          latencyMs,
          promptTokens,
          completionTokens,
          costNanoUsd,
          at,
          ...(error === undefined ? {} : { error }),
        },
      }),
    );
  }

  /** A resume is verified once the stage's call count has grown, or its queue is empty; or it times out. */
  #verify(
    stage: Stage,
    record: SupervisorStageRecord,
    calls: number,
    depth: QueueDepth,
    now: number,
    telemetry: Telemetry,
    act: (action: string, detail: string) => void,
  ): void {
    const pending = record.verify;
    if (pending === undefined) return;
    if (calls > pending.calls || depth.total === 0) {
      record.verify = undefined;
      const detail =
        calls > pending.calls
          ? `${calls - pending.calls} call(s) answered since the resume`
          : 'its queue is empty: nothing waits';
      telemetry.count('ResumeVerified');
      this.#options.logger.info('resume verified: items flow', { stage, detail });
      act('resume verified', detail);
      return;
    }
    if (now - pending.since >= this.#options.config.verifyMs) {
      record.verify = undefined;
      const detail = `no call answered in ${Math.round((now - pending.since) / 1000)} s while ${depth.total} message(s) wait`;
      telemetry.count('ResumeUnverified');
      this.#options.logger.error('resume not verified: the stage processes nothing', { stage, detail });
      act('resume unverified', detail);
    }
  }

  /**
   * AIMD on the event source's maximum concurrency. Returns the new value and why, or undefined to keep it.
   * Updates the latency baseline.
   */
  #adapt(
    stage: Stage,
    record: SupervisorStageRecord,
    mapping: EventSourceMappingConfiguration,
    counters: Counters,
    depth: QueueDepth,
  ): { value: number; why: string } | undefined {
    const { adaptiveConcurrency: settings } = this.#options.config;
    const ceiling = this.#settings(stage).maxConcurrency;
    const previous = record.counters;
    if (!settings.enabled || previous === undefined || mapping.State !== 'Enabled') return undefined;
    const sameDay = previous.day === utcDay(this.#now());
    const calls = counters.calls - (sameDay ? previous.calls : 0);
    const latency = counters.latencyMsTotal - (sameDay ? previous.latencyMsTotal : 0);
    const throttled = Math.max(0, counters.throttled - previous.throttled);
    const current = mapping.ScalingConfig?.MaximumConcurrency ?? ceiling;
    if (calls + throttled <= 0) return undefined;

    const decrease = (why: string) => {
      const value = Math.max(MIN_CONCURRENCY, Math.floor(current * settings.decreaseFactor));
      return value < current ? { value, why } : undefined;
    };
    const share = throttled / (calls + throttled);
    if (throttled > 0 && share > settings.throttleRatio) {
      return decrease(`${throttled} of ${calls + throttled} calls answered 429 (${(share * 100).toFixed(1)} %)`);
    }
    const mean = calls >= MIN_CALLS_FOR_LATENCY ? latency / calls : undefined;
    const baseline = record.baselineLatencyMs;
    if (
      mean !== undefined &&
      baseline !== undefined &&
      mean > baseline * settings.latencyFactor &&
      mean - baseline >= MIN_LATENCY_GROWTH_MS
    ) {
      return decrease(
        `mean latency ${Math.round(mean)} ms, ${(mean / baseline).toFixed(1)}× the baseline ${Math.round(baseline)} ms`,
      );
    }
    if (mean !== undefined) {
      // Quick to learn that calls got faster, slow to accept that they got slower.
      record.baselineLatencyMs =
        baseline === undefined ? mean : mean < baseline ? (mean + baseline) / 2 : baseline * 0.9 + mean * 0.1;
    }
    if (current < ceiling && depth.visible > 0) {
      return { value: Math.min(ceiling, current + 1), why: `calls healthy with ${depth.visible} message(s) waiting` };
    }
    if (current > ceiling) return { value: ceiling, why: `above the configured maximum ${ceiling}` };
    return undefined;
  }

  /** Re-queues items published without history, once the memory store answers its lookup. Returns how many. */
  async #reenrich(): Promise<number> {
    const { config, dynamo, tableName, sqs, logger } = this.#options;
    if (!(await this.#memoryAvailable())) return 0;
    const { maxPerRun, perSecond, maxPerItem } = config.reenrich;
    const items = await itemsWithoutHistory(dynamo, tableName, {
      max: maxPerRun,
      // Not re-queued since its last publication, and not too often.
      accept: (item) =>
        item.autoReenrichments < maxPerItem &&
        (item.reenrichQueuedAt === undefined || item.reenrichQueuedAt < item.updatedAt),
    });
    const stage = config.reenrichStage;
    if (items.length === 0 || stage === undefined) return 0;
    const queueUrl = this.#wiring(stage).queueUrl;
    const perBatch = Math.min(SEND_BATCH, perSecond);
    let sent = 0;
    const telemetry = new Telemetry({ stage, sink: this.#options.emf });
    try {
      for (let start = 0; start < items.length; start += perBatch) {
        const started = this.#now();
        const batch = items.slice(start, start + perBatch);
        const { Failed } = await sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: queueUrl,
            Entries: batch.map((item, index) => ({
              Id: String(index),
              MessageBody: JSON.stringify({ itemId: item.itemId, reenrich: true }),
            })),
          }),
        );
        const failed = new Set((Failed ?? []).map((entry) => entry.Id));
        const queued = batch.filter((_, index) => !failed.has(String(index)));
        const at = new Date(this.#now()).toISOString();
        // Marked after the send: a crash in between sends the item again next look, which the draft stage ignores.
        await Promise.all(
          queued.map((item) =>
            dynamo.send(
              new UpdateCommand({
                TableName: tableName,
                Key: { pk: `ITEM#${item.itemId}`, sk: 'ITEM' },
                UpdateExpression: 'SET reenrichQueuedAt = :at ADD autoReenrichments :one',
                ConditionExpression: 'attribute_exists(pk)',
                ExpressionAttributeValues: { ':at': at, ':one': 1 },
              }),
            ),
          ),
        );
        sent += queued.length;
        if (failed.size > 0)
          logger.warn('re-enrichment sends failed; they are tried again at the next look', { failed: failed.size });
        const spacing = (1000 * batch.length) / perSecond - (this.#now() - started);
        if (start + perBatch < items.length && spacing > 0) await this.#sleep(spacing);
      }
    } finally {
      if (sent > 0) {
        telemetry.global({ ItemsReenriched: sent });
        logger.info('items drafted without history re-queued for a redraft with history', { count: sent });
      }
    }
    return sent;
  }

  /**
   * Whether the memory store answers now: the supervisor's own lookup, through the memory breaker, was answered.
   * A closed breaker is not enough: it counts as closed until enough lookups have failed, so a store that has just
   * gone would get every degraded item redrafted without history again, each spending one of its re-enrichments.
   * While the breaker is open, the lookup is its one probe once the cooldown is over (and closes it when answered):
   * otherwise a breaker left open after an outage would wait for a draft's lookup, and none would come while every
   * item waits for re-enrichment.
   */
  async #memoryAvailable(): Promise<boolean> {
    const { config, dynamo, tableName, logger, memory } = this.#options;
    if (memory === undefined) return false;
    const breaker = new CircuitBreaker(
      dynamo,
      tableName,
      MEMORY_DEPENDENCY,
      { ...config.breaker, probeLeaseMs: config.memory.lookupTimeoutMs + 5000, cacheMs: 0 },
      this.#now,
      (change) => logger.info('circuit breaker changed state', change),
    );
    let permit: Awaited<ReturnType<CircuitBreaker['acquire']>>;
    try {
      permit = await breaker.acquire('supervisor#memory');
    } catch (error) {
      if (error instanceof BreakerOpenError) return false;
      throw error;
    }
    try {
      await memory.findRelated({
        topics: ['sluice'],
        entities: [],
        excludeItemId: '',
        limit: 1,
        timeoutMs: config.memory.lookupTimeoutMs,
      });
    } catch (error) {
      await breaker.onFailure(permit);
      logger.warn('memory probe failed: items drafted without history wait', {
        ...failureLogFields(describeError(error)),
      });
      return false;
    }
    await breaker.onSuccess(permit);
    return true;
  }

  #models(stage: Stage): string[] {
    const { model, fallbackModel, stepModels = [] } = this.#settings(stage);
    const models = [model, ...stepModels, fallbackModel].filter((name): name is string => name !== undefined);
    return [...new Set(models)];
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

  /** The least any call of the stage reserves: no prompt, the whole max_tokens, at its cheapest model's price. */
  #smallestCallNano(stage: Stage): number {
    const { maxOutputTokens } = this.#settings(stage);
    const costs = this.#models(stage).map((model) => {
      const price = this.#options.config.prices[model];
      return price ? costNanoUsd(price, 0, maxOutputTokens) : 0;
    });
    return Math.max(1, Math.min(...costs));
  }

  async #budgetRoom(now: number): Promise<{ day: string; committedNano: number; roomNano: number }> {
    const day = utcDay(now);
    const { committedNano } = await this.#budget.read(day);
    return { day, committedNano, roomNano: this.#budget.limitNano - committedNano };
  }

  /** The stage's calls and their latency today (every model it may call), and its models' 429s (ever). */
  async #counters(stage: Stage): Promise<Counters> {
    const day = utcDay(this.#now());
    const models = this.#models(stage);
    const rows = await Promise.all(
      models.flatMap((model) => [this.#get(`USAGE#${day}`, `${stage}#${model}`), this.#get(`LIMIT#${model}`, 'LIMIT')]),
    );
    const counters: Counters = { calls: 0, latencyMsTotal: 0, throttled: 0 };
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
    const item = await this.#get(`SUPERVISOR#${stage}`, 'SUPERVISOR');
    // Written only by this class.
    return (item ?? {}) as Partial<SupervisorStageRecord>;
  }

  async #writeRecord(record: SupervisorStageRecord): Promise<void> {
    await this.#options.dynamo.send(
      new PutCommand({
        TableName: this.#options.tableName,
        Item: { pk: `SUPERVISOR#${record.stage}`, sk: 'SUPERVISOR', ...record },
      }),
    );
  }

  async #get(pk: string, sk: string): Promise<Record<string, unknown> | undefined> {
    const { Item } = await this.#options.dynamo.send(
      new GetCommand({ TableName: this.#options.tableName, Key: { pk, sk }, ConsistentRead: true }),
    );
    return Item;
  }
}

interface Counters {
  calls: number;
  latencyMsTotal: number;
  throttled: number;
}

interface QueueDepth {
  /** Messages ready to be received: a backlog. */
  visible: number;
  /** Every message in the queue: ready, in flight, delayed. */
  total: number;
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
      Key: { pk: `SUPERVISOR#${stage}`, sk: 'SUPERVISOR' },
      ConsistentRead: true,
    }),
  );
  if (Item === undefined) return undefined;
  const { pk: _pk, sk: _sk, ...record } = Item;
  // Written only by the Supervisor class.
  return record as SupervisorStageRecord;
}
