import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { PIPELINE } from '#functions/pipeline.ts';
import { queueOutputKeys } from '#lib/outputs.ts';
import { isQueueMissing, peekAll, queueDepth } from '#ops/queue-io.ts';
import { requiredOutput, scanAll } from '#ops/table-reads.ts';
import { nanoToUsd, type UsageRow } from '#shared/call-ledger.ts';
import type { ItemRecord } from '#shared/item-store.ts';
import { DEAD_LETTER, type Pipeline, PUBLISHED_LANE, queueKeyOf } from '#shared/pipeline.ts';
import { recordKindOf } from '#shared/table-keys.ts';

/**
 * What a run did, read back from the tables and queues (never from the runtime's own counters): items by
 * final state, the lost ones, and tokens and dollars by stage and model.
 */

export interface TokenTotals {
  calls: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
}

export interface DeadLetterSummary {
  itemId: string;
  stage: string;
  errorClass: string;
  message: string;
  attempts: number;
  /** Whether its message is in a dead-letter queue (the invariant: it must be). */
  messageInDlq: boolean;
}

export interface RunReport {
  items: {
    /** Items in the state table, and accepted items it has no record of yet. */
    total: number;
    /** Every state of the pipeline, with 0 for a state no item is in. */
    byState: Record<string, number>;
    degraded: Record<string, number>;
    /**
     * Items not settled yet whose messages are still in the intake or draft queue (visible, in flight or delayed):
     * the pipeline moves them on when it runs (after a restart with the same data dir). At most as many as those
     * messages, each of which carries one item.
     */
    inProgress: number;
    /**
     * Items no message will move: dead letters whose message is not in a DLQ, and the unsettled items (accepted
     * items that are neither PUBLISHED nor DEAD_LETTER) beyond the messages still queued. Once the queues are
     * drained, every unsettled item is lost: the invariant is that none is.
     */
    lost: number;
    /** The lost items known by id: the dead letters, and every unsettled item once the queues are drained. */
    lostItemIds: string[];
  };
  deadLetters: DeadLetterSummary[];
  llm: TokenTotals & {
    byStage: Record<string, TokenTotals>;
    byModel: Record<string, TokenTotals>;
    byStageAndModel: (TokenTotals & { stage: string; model: string })[];
  };
  /**
   * The usage this run added: the usage rows' growth since `usageBefore` was read (all of `llm` without it). On a
   * data dir kept across restarts `llm` holds every run's; this is what this process's metrics must equal.
   */
  llmThisRun: RunReport['llm'];
  queues: Record<string, { visible: number; inFlight: number }>;
  /** Queues of the stack that do not exist (deleted through the SQS API), by output key. */
  missingQueues: string[];
}

/** Names of the queue outputs a report reads, as the stack (and the local runtime) outputs them. */
function queueOutputsOf(pipeline: Pipeline) {
  const lanes = pipeline.lanes.map((lane) => ({ lane, keys: queueOutputKeys(queueKeyOf(pipeline, lane)) }));
  return {
    queues: lanes.map(({ keys }) => keys.url),
    /** The queues whose messages move an unsettled item on: the stages' own. */
    working: lanes.filter(({ lane }) => lane !== PUBLISHED_LANE).map(({ keys }) => keys.url),
    deadLetters: lanes.map(({ keys }) => keys.deadLetterUrl),
  };
}

export interface ReportSources {
  /**
   * The stages the run's items go through.
   * @default the pipeline sluice ships
   */
  pipeline?: Pipeline;
  sqs: SQSClient;
  dynamo: DynamoDBDocumentClient;
  outputs: Readonly<Record<string, string>>;
  /** Ids of the items this run accepted; items with no record at all count as lost. */
  acceptedItemIds?: readonly string[];
  /** The usage rows as they were when this run started ({@link readUsageRows}), for `llmThisRun`. */
  usageBefore?: readonly UsageRow[];
}

/**
 * The per-day usage rows of the state table (`USAGE#<day>`, one per stage and model), e.g. as a baseline before a run.
 * @example const before = await readUsageRows(dynamo, outputs.StateTableName);
 */
export async function readUsageRows(dynamo: DynamoDBDocumentClient, tableName: string): Promise<UsageRow[]> {
  return usageRowsOf(await scanAll(dynamo, tableName));
}

function usageRowsOf(rows: readonly Record<string, unknown>[]): UsageRow[] {
  return rows.filter((row) => recordKindOf(String(row.pk))?.kind === 'usage') as unknown as UsageRow[];
}

/**
 * What was added to the usage rows between two reads: each row's counters less what the same day, stage and model
 * held before (rows only ever grow).
 * @example summariseUsage(usageSince(before, await readUsageRows(dynamo, table)))
 */
export function usageSince(before: readonly UsageRow[], after: readonly UsageRow[]): UsageRow[] {
  const key = (row: UsageRow) => `${row.day}#${row.stage}#${row.model}`;
  const earlier = new Map(before.map((row) => [key(row), row]));
  return after.flatMap((row) => {
    const was = earlier.get(key(row));
    const added: UsageRow = {
      day: row.day,
      stage: row.stage,
      model: row.model,
      calls: row.calls - (was?.calls ?? 0),
      promptTokens: row.promptTokens - (was?.promptTokens ?? 0),
      completionTokens: row.completionTokens - (was?.completionTokens ?? 0),
      costNanoUsd: row.costNanoUsd - (was?.costNanoUsd ?? 0),
    };
    return added.calls === 0 ? [] : [added];
  });
}

/** @example const report = await collectRunReport({ sqs, dynamo, outputs, acceptedItemIds }); */
export async function collectRunReport(sources: ReportSources): Promise<RunReport> {
  const { sqs, dynamo, outputs } = sources;
  const pipeline = sources.pipeline ?? PIPELINE;
  const outputKeys = queueOutputsOf(pipeline);
  const tableName = requiredOutput(outputs, 'StateTableName');
  const rows = await scanAll(dynamo, tableName);
  const items = rows.filter((row) => row.sk === 'ITEM') as unknown as ItemRecord[];
  const usage = usageRowsOf(rows);

  // A deleted queue is reported with the rest, not fatal; the messages it held are gone with it.
  const missing = new Set<string>();
  const unlessMissing = async <T>(key: string, read: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await read();
    } catch (error) {
      if (!isQueueMissing(error)) throw error;
      missing.add(key);
      return undefined;
    }
  };

  const dlqItemIds = new Set<string>();
  for (const key of outputKeys.deadLetters) {
    const url = outputs[key];
    if (url === undefined) continue;
    for (const message of (await unlessMissing(key, () => peekAll(sqs, url))) ?? []) {
      const id = message.MessageAttributes?.itemId?.StringValue;
      if (id) dlqItemIds.add(id);
    }
  }

  const byState: Record<string, number> = Object.fromEntries(pipeline.states.map((state) => [state, 0]));
  const degraded: Record<string, number> = {};
  const lostItemIds: string[] = [];
  const unsettled: string[] = [];
  const deadLetters: DeadLetterSummary[] = [];
  const known = new Set<string>();
  for (const item of items) {
    known.add(item.itemId);
    byState[item.state] = (byState[item.state] ?? 0) + 1;
    for (const flag of item.degraded ?? []) degraded[flag] = (degraded[flag] ?? 0) + 1;
    if (item.state === DEAD_LETTER) {
      const inDlq = dlqItemIds.has(item.itemId);
      deadLetters.push({
        itemId: item.itemId,
        stage: item.deadLetter?.stage ?? 'unknown',
        errorClass: item.deadLetter?.errorClass ?? 'unknown',
        message: item.deadLetter?.message ?? '',
        attempts: item.deadLetter?.attempts ?? 0,
        messageInDlq: inDlq,
      });
      if (!inDlq) lostItemIds.push(item.itemId);
    } else if (!pipeline.terminalStates.includes(item.state)) {
      unsettled.push(item.itemId);
    }
  }
  const unrecorded = [...new Set(sources.acceptedItemIds ?? [])].filter((id) => !known.has(id));
  unsettled.push(...unrecorded);

  const queues: RunReport['queues'] = {};
  for (const key of [...outputKeys.queues, ...outputKeys.deadLetters]) {
    const url = outputs[key];
    if (url === undefined) continue;
    const depth = await unlessMissing(key, () => queueDepth(sqs, url));
    if (depth === undefined) continue;
    queues[key.replace(/Url$/, '')] = { visible: depth.visible + depth.delayed, inFlight: depth.inFlight };
  }
  const queued = outputKeys.working.reduce((sum, key) => {
    const depth = queues[key.replace(/Url$/, '')];
    return sum + (depth === undefined ? 0 : depth.visible + depth.inFlight);
  }, 0);
  const inProgress = Math.min(unsettled.length, queued);
  if (queued === 0) lostItemIds.push(...unsettled);

  return {
    items: {
      total: items.length + unrecorded.length,
      byState,
      degraded,
      inProgress,
      lost: lostItemIds.length + (queued === 0 ? 0 : unsettled.length - inProgress),
      lostItemIds: lostItemIds.sort(),
    },
    deadLetters: deadLetters.sort((a, b) => a.itemId.localeCompare(b.itemId)),
    llm: summariseUsage(usage),
    llmThisRun: summariseUsage(sources.usageBefore === undefined ? usage : usageSince(sources.usageBefore, usage)),
    queues,
    missingQueues: [...outputKeys.queues, ...outputKeys.deadLetters].filter((key) => missing.has(key)),
  };
}

/** Totals of usage rows overall, by stage, by model, and by both. */
export function summariseUsage(rows: readonly UsageRow[]): RunReport['llm'] {
  const empty = (): TokenTotals & { costNanoUsd: number } => ({
    calls: 0,
    promptTokens: 0,
    completionTokens: 0,
    costUsd: 0,
    costNanoUsd: 0,
  });
  const add = (total: ReturnType<typeof empty>, row: UsageRow) => {
    total.calls += row.calls;
    total.promptTokens += row.promptTokens;
    total.completionTokens += row.completionTokens;
    total.costNanoUsd += row.costNanoUsd;
    total.costUsd = nanoToUsd(total.costNanoUsd);
  };
  const all = empty();
  const byStage = new Map<string, ReturnType<typeof empty>>();
  const byModel = new Map<string, ReturnType<typeof empty>>();
  const byBoth = new Map<string, ReturnType<typeof empty> & { stage: string; model: string }>();
  for (const row of rows) {
    add(all, row);
    const stage = byStage.get(row.stage) ?? empty();
    add(stage, row);
    byStage.set(row.stage, stage);
    const model = byModel.get(row.model) ?? empty();
    add(model, row);
    byModel.set(row.model, model);
    const key = `${row.stage}#${row.model}`;
    const both = byBoth.get(key) ?? { ...empty(), stage: row.stage, model: row.model };
    add(both, row);
    byBoth.set(key, both);
  }
  const strip = <T extends { costNanoUsd: number }>({ costNanoUsd: _nano, ...rest }: T) => rest;
  return {
    ...strip(all),
    byStage: Object.fromEntries([...byStage].map(([key, value]) => [key, strip(value)])),
    byModel: Object.fromEntries([...byModel].map(([key, value]) => [key, strip(value)])),
    byStageAndModel: [...byBoth.values()].map(strip),
  };
}
