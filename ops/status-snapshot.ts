import { DescribeAlarmsCommand, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import type { Message } from '@aws-sdk/client-sqs';
import { BatchGetCommand } from '@aws-sdk/lib-dynamodb';
import { cdkJsonContext } from '#lib/cdk-json.ts';
import { configuredModels, loadConfig, type SluiceConfig } from '#lib/config.ts';
import { peekAll, queueDepth } from '#ops/queue-io.ts';
import { type EventSourceStatus, readEventSources } from '#ops/stage-switch.ts';
import { countItemsByState } from '#ops/table-reads.ts';
import { DailyBudget, utcDay } from '#shared/budget.ts';
import { CallLedger, nanoToUsd, type UsageRow } from '#shared/call-ledger.ts';
import type { BreakerState } from '#shared/circuit-breaker.ts';
import type { ItemState } from '#shared/item-store.ts';
import { MEMORY_DEPENDENCY } from '#shared/metric-catalogue.ts';
import { breakerKey, limitKey, recordKindOf, type TableKey } from '#shared/table-keys.ts';
import { itemIdOf } from './dead-letter-mover.ts';
import { readSupervisorSchedule, type SupervisorOutlook, supervisorOutlook } from './supervisor-outlook.ts';
import type { QueueRef, Target } from './target.ts';

/**
 * Everything `sluice status` shows, read from the stack itself: item counts from the state table's ByState
 * index, queue depths and the age of their oldest message, each stage's event source (enabled or paused, by
 * whom and why), whether the supervisor is looking, breaker and rate-limiter records, today's usage against the daily budget, and the stack's
 * alarms that are firing.
 */

export interface QueueStatus {
  queue: string;
  visible: number;
  inFlight: number;
  delayed: number;
  /** Age of the oldest message, or null when it is not known (see `oldestAgeNote`). */
  oldestAgeSeconds: number | null;
  oldestAgeNote?: string | undefined;
  /**
   * DLQs read locally: the distinct items their messages belong to (two copies of one item's dead letter count
   * once). Absent for working queues and on AWS, where the state table's DEAD_LETTER count is the item count.
   */
  items?: number | undefined;
}

export interface BreakerStatus {
  dependency: string;
  state: BreakerState;
  failures: number;
  opens: number;
  /** While open: when one caller may probe. */
  openUntil?: string | undefined;
}

export interface LimiterStatus {
  model: string;
  rpm?: number | undefined;
  tpm?: number | undefined;
  /** A provider's 429 holds every caller back until then. */
  heldUntil?: string | undefined;
  /** How far the request and token schedules run ahead of now: 0 is idle, beyond the burst a call waits. */
  requestsAheadMs: number;
  tokensAheadMs: number;
}

export interface UsageLine {
  stage: string;
  model: string;
  calls: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  rebilledCalls: number;
}

export interface StatusSnapshot {
  stack: string;
  target: 'local' | 'aws';
  source: string;
  at: string;
  items: { total: number; byState: Record<ItemState, number> };
  queues: QueueStatus[];
  /** Each stage's event source mapping and control record: whether it runs, and who paused it and why. */
  eventSources: EventSourceStatus[];
  /** Whether the supervisor is looking: waiting for its first look, looking, overdue (not running) or off. */
  supervisor: SupervisorOutlook;
  breakers: BreakerStatus[];
  limiters: LimiterStatus[];
  today: {
    day: string;
    calls: number;
    promptTokens: number;
    completionTokens: number;
    costUsd: number;
    rebilledCalls: number;
    byStageAndModel: UsageLine[];
    budget: {
      /** From the project's cdk.json (`dailyBudgetUsd`); null when it cannot be read. */
      limitUsd: number | null;
      spentUsd: number;
      /** Reserved for calls in flight (or left by crashed ones) on top of what was spent. */
      reservedUsd: number;
      usedShare: number | null;
    };
  };
  alarms: { checked: boolean; note?: string | undefined; inAlarm: { name: string; reason: string; since: string }[] };
}

/** Breaker and limiter records: they change slowly, and finding them scans the table, so --watch reuses them. */
export interface ControlRecords {
  breakers: BreakerStatus[];
  limiters: LimiterStatus[];
}

export interface StatusOptions {
  now: number;
  /** Breaker and limiter records read recently; read again when absent. */
  controls?: ControlRecords | undefined;
}

/** @example const snapshot = await readStatus(target, { now: Date.now() }); */
export async function readStatus(target: Target, options: StatusOptions): Promise<StatusSnapshot> {
  const config = projectConfig();
  const day = utcDay(options.now);
  const [byState, queues, eventSources, schedule, controls, usage, budget, alarms] = await Promise.all([
    countItemsByState(target.dynamo, target.stateTableName, target.pipeline.states),
    readQueues(target, options.now),
    readEventSources(target),
    readSupervisorSchedule(target),
    options.controls ?? readControlRecords(target, config, options.now),
    new CallLedger(target.dynamo, target.stateTableName).usageOfDay(day),
    new DailyBudget(target.dynamo, target.stateTableName, 0, () => options.now).read(day),
    readAlarms(target),
  ]);
  const lines = usage.map(usageLine).sort((a, b) => `${a.stage}#${a.model}`.localeCompare(`${b.stage}#${b.model}`));
  const costNano = usage.reduce((sum, row) => sum + Number(row.costNanoUsd ?? 0), 0);
  const limitUsd = config?.dailyBudgetUsd ?? null;
  const spentUsd = nanoToUsd(budget.spentNano);
  return {
    stack: target.stackName,
    target: target.kind,
    source: target.source,
    at: new Date(options.now).toISOString(),
    items: { total: Object.values(byState).reduce((sum, n) => sum + n, 0), byState },
    queues,
    eventSources,
    supervisor: outlookOf(schedule, eventSources, options.now),
    breakers: controls.breakers,
    limiters: controls.limiters,
    today: {
      day,
      calls: sum(lines, 'calls'),
      promptTokens: sum(lines, 'promptTokens'),
      completionTokens: sum(lines, 'completionTokens'),
      costUsd: nanoToUsd(costNano),
      rebilledCalls: sum(lines, 'rebilledCalls'),
      byStageAndModel: lines,
      budget: {
        limitUsd,
        spentUsd,
        reservedUsd: nanoToUsd(Math.max(0, budget.committedNano - budget.spentNano)),
        usedShare: limitUsd === null || limitUsd === 0 ? null : nanoToUsd(budget.committedNano) / limitUsd,
      },
    },
    alarms,
  };
}

/** The supervisor's state from its schedule and the latest look it recorded on any stage. */
function outlookOf(
  schedule: Awaited<ReturnType<typeof readSupervisorSchedule>>,
  eventSources: readonly EventSourceStatus[],
  now: number,
): SupervisorOutlook {
  const looks = eventSources.map((source) => Date.parse(source.supervisor?.lookedAt ?? '')).filter(Number.isFinite);
  const lastLookMs = looks.length === 0 ? undefined : Math.max(...looks);
  if ('state' in schedule) {
    return {
      state: schedule.state,
      intervalSeconds: null,
      since: null,
      lastLookAt: lastLookMs === undefined ? null : new Date(lastLookMs).toISOString(),
      nextLookAt: null,
      overdueAt: null,
      note: schedule.note,
    };
  }
  return supervisorOutlook(schedule, lastLookMs, now);
}

/**
 * The project's validated cdk.json config (budget, limits), or undefined when it cannot be read here.
 * @example const budgetUsd = projectConfig()?.dailyBudgetUsd;
 */
export function projectConfig(): SluiceConfig | undefined {
  try {
    return loadConfig(cdkJsonContext().sluice);
  } catch {
    return undefined;
  }
}

/** Every queue of the stack, in flow order: each stage's queue, then its DLQ. */
function stackQueues(target: Target): QueueRef[] {
  return Object.values(target.lanes).flatMap((lane) => [lane.queue, lane.deadLetterQueue]);
}

async function readQueues(target: Target, now: number): Promise<QueueStatus[]> {
  const queues = stackQueues(target);
  const [depths, ages] = await Promise.all([
    Promise.all(queues.map((queue) => queueDepth(target.sqs, queue.url))),
    target.kind === 'aws' ? ageFromCloudWatch(target, queues, now) : ageFromMessages(target, queues, now),
  ]);
  return queues.map((queue, index) => {
    const depth = depths[index] ?? { visible: 0, inFlight: 0, delayed: 0 };
    const age = ages[index] ?? { seconds: null, note: 'unknown' };
    return {
      queue: queue.label,
      ...depth,
      oldestAgeSeconds: age.seconds,
      ...(age.note === undefined ? {} : { oldestAgeNote: age.note }),
      ...(age.items === undefined ? {} : { items: age.items }),
    };
  });
}

type Age = { seconds: number | null; note?: string; items?: number };

/** The newest datapoint of SQS's own ApproximateAgeOfOldestMessage metric over the last 15 minutes. */
async function ageFromCloudWatch(target: Target, queues: readonly QueueRef[], now: number): Promise<Age[]> {
  const cloudwatch = target.cloudwatch;
  if (cloudwatch === undefined) return queues.map(() => ({ seconds: null, note: 'no CloudWatch client' }));
  try {
    const { MetricDataResults = [] } = await cloudwatch.send(
      new GetMetricDataCommand({
        StartTime: new Date(now - 15 * 60_000),
        EndTime: new Date(now),
        ScanBy: 'TimestampDescending',
        MetricDataQueries: queues.map((queue, index) => ({
          Id: `q${index}`,
          MetricStat: {
            Metric: {
              Namespace: 'AWS/SQS',
              MetricName: 'ApproximateAgeOfOldestMessage',
              Dimensions: [{ Name: 'QueueName', Value: queue.url.split('/').pop() ?? '' }],
            },
            Period: 60,
            Stat: 'Maximum',
          },
        })),
      }),
    );
    return queues.map((_queue, index) => {
      const value = MetricDataResults.find((result) => result.Id === `q${index}`)?.Values?.[0];
      return value === undefined ? { seconds: null, note: 'no datapoint in 15 min' } : { seconds: value };
    });
  } catch (error) {
    const note = `CloudWatch: ${(error as Error).name}`;
    return queues.map(() => ({ seconds: null, note }));
  }
}

/**
 * Locally there is no CloudWatch. A dead-letter queue has no consumer, so its messages can be read and put
 * back at once to find the oldest SentTimestamp; the working queues are not read, since a receive there would
 * compete with the consumers and count toward their redrive.
 */
async function ageFromMessages(target: Target, queues: readonly QueueRef[], now: number): Promise<Age[]> {
  const deadLetterQueues = new Set(Object.values(target.lanes).map((lane) => lane.deadLetterQueue.url));
  return Promise.all(
    queues.map(async (queue): Promise<Age> => {
      if (!deadLetterQueues.has(queue.url)) return { seconds: null, note: 'n/a locally' };
      const messages: Message[] = await peekAll(target.sqs, queue.url, 5);
      const sent = messages.map((message) => Number(message.Attributes?.SentTimestamp)).filter(Number.isFinite);
      const items = new Set(messages.map((message) => itemIdOf(message) ?? `message ${message.MessageId}`)).size;
      return sent.length === 0
        ? { seconds: null, note: 'empty', items }
        : { seconds: (now - Math.min(...sent)) / 1000, items };
    }),
  );
}

/**
 * Breaker (`BREAKER#<dependency>`) and limiter (`LIMIT#<model>`) records of the models the config names (stage
 * models, fallback) and of the memory store, read by key in one BatchGetItem (never a scan of the table).
 * @example const { breakers, limiters } = await readControlRecords(target, projectConfig(), Date.now());
 */
async function readControlRecords(
  target: Target,
  config: SluiceConfig | undefined,
  now: number,
): Promise<ControlRecords> {
  const models = config ? configuredModels(config) : [];
  const keys: TableKey[] = [
    ...[...models, MEMORY_DEPENDENCY].map((dependency) => breakerKey(dependency)),
    ...models.map((model) => limitKey(model)),
  ];
  const rows: Record<string, unknown>[] = [];
  let pending: Record<string, { Keys: Record<string, unknown>[] }> | undefined = {
    [target.stateTableName]: { Keys: keys.map((key) => ({ ...key })) },
  };
  // BatchGetItem may leave keys unprocessed under load; ask again for those, a bounded number of times.
  for (let round = 0; round < 5 && pending !== undefined && Object.keys(pending).length > 0; round += 1) {
    const page = await target.dynamo.send(new BatchGetCommand({ RequestItems: pending }));
    rows.push(...(page.Responses?.[target.stateTableName] ?? []));
    pending = page.UnprocessedKeys as typeof pending;
  }
  const breakers: BreakerStatus[] = [];
  const limiters: LimiterStatus[] = [];
  for (const row of rows) {
    const record = recordKindOf(String(row.pk));
    if (record?.kind === 'breaker') {
      const openUntil = Number(row.openUntil);
      const state = (['closed', 'open', 'half-open'] as const).find((s) => s === row.state) ?? 'closed';
      breakers.push({
        dependency: record.name,
        state,
        failures: Number(row.failures ?? 0),
        opens: Number(row.opens ?? 0),
        ...(state !== 'closed' && Number.isFinite(openUntil) ? { openUntil: new Date(openUntil).toISOString() } : {}),
      });
    } else if (record?.kind === 'limit') {
      const model = record.name;
      const heldUntil = Number(row.heldUntil);
      const limits = config?.limits[model];
      limiters.push({
        model,
        rpm: limits?.rpm,
        tpm: limits?.tpm,
        ...(Number.isFinite(heldUntil) && heldUntil > now ? { heldUntil: new Date(heldUntil).toISOString() } : {}),
        requestsAheadMs: Math.max(0, Number(row.tatRequests ?? 0) - now),
        tokensAheadMs: Math.max(0, Number(row.tatTokens ?? 0) - now),
      });
    }
  }
  return {
    breakers: breakers.sort((a, b) => a.dependency.localeCompare(b.dependency)),
    limiters: limiters.sort((a, b) => a.model.localeCompare(b.model)),
  };
}

async function readAlarms(target: Target): Promise<StatusSnapshot['alarms']> {
  const cloudwatch = target.cloudwatch;
  if (target.kind === 'local' || cloudwatch === undefined) {
    return { checked: false, note: 'skipped locally: CloudWatch alarms exist only on AWS', inAlarm: [] };
  }
  const inAlarm: StatusSnapshot['alarms']['inAlarm'] = [];
  let nextToken: string | undefined;
  try {
    do {
      const page = await cloudwatch.send(
        new DescribeAlarmsCommand({
          AlarmNamePrefix: target.stackName,
          StateValue: 'ALARM',
          AlarmTypes: ['MetricAlarm', 'CompositeAlarm'],
          NextToken: nextToken,
        }),
      );
      for (const alarm of [...(page.MetricAlarms ?? []), ...(page.CompositeAlarms ?? [])]) {
        inAlarm.push({
          name: alarm.AlarmName ?? '?',
          reason: alarm.StateReason ?? '',
          since: alarm.StateUpdatedTimestamp?.toISOString() ?? '',
        });
      }
      nextToken = page.NextToken;
    } while (nextToken !== undefined);
  } catch (error) {
    return {
      checked: false,
      note: `cannot read alarms: ${(error as Error).name}: ${(error as Error).message}`,
      inAlarm,
    };
  }
  return { checked: true, inAlarm: inAlarm.sort((a, b) => a.name.localeCompare(b.name)) };
}

function usageLine(row: UsageRow): UsageLine {
  return {
    stage: row.stage,
    model: row.model,
    calls: Number(row.calls ?? 0),
    promptTokens: Number(row.promptTokens ?? 0),
    completionTokens: Number(row.completionTokens ?? 0),
    costUsd: nanoToUsd(Number(row.costNanoUsd ?? 0)),
    rebilledCalls: Number(row.rebilledCalls ?? 0),
  };
}

function sum<K extends 'calls' | 'promptTokens' | 'completionTokens' | 'rebilledCalls'>(
  lines: readonly UsageLine[],
  key: K,
): number {
  return lines.reduce((total, line) => total + line[key], 0);
}
