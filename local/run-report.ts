import type { SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { nanoToUsd, type UsageRow } from '#shared/call-ledger.ts';
import { ITEM_STATES, type ItemRecord, type ItemState, TERMINAL_STATES } from '#shared/item-store.ts';
import { peekAll, queueDepth } from './queue-io.ts';
import { requiredOutput, scanAll } from './table-reads.ts';

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
    total: number;
    byState: Record<ItemState, number>;
    degraded: Record<string, number>;
    /** Accepted items that are neither PUBLISHED nor DEAD_LETTER with their message in a DLQ. */
    lost: number;
    lostItemIds: string[];
  };
  deadLetters: DeadLetterSummary[];
  llm: TokenTotals & {
    byStage: Record<string, TokenTotals>;
    byModel: Record<string, TokenTotals>;
    byStageAndModel: (TokenTotals & { stage: string; model: string })[];
  };
  queues: Record<string, { visible: number; inFlight: number }>;
}

/** Names of the queue outputs a report reads, as the stack (and the local runtime) outputs them. */
const QUEUE_OUTPUTS = ['IntakeQueueUrl', 'DraftQueueUrl', 'PublishedQueueUrl'] as const;
const DLQ_OUTPUTS = ['IntakeDeadLetterQueueUrl', 'DraftDeadLetterQueueUrl', 'PublishedDeadLetterQueueUrl'] as const;

export interface ReportSources {
  sqs: SQSClient;
  dynamo: DynamoDBDocumentClient;
  outputs: Readonly<Record<string, string>>;
  /** Ids of the items this run accepted; items with no record at all count as lost. */
  acceptedItemIds?: readonly string[];
}

/** @example const report = await collectRunReport({ sqs, dynamo, outputs, acceptedItemIds }); */
export async function collectRunReport(sources: ReportSources): Promise<RunReport> {
  const { sqs, dynamo, outputs } = sources;
  const tableName = requiredOutput(outputs, 'StateTableName');
  const rows = await scanAll(dynamo, tableName);
  const items = rows.filter((row) => row.sk === 'ITEM') as unknown as ItemRecord[];
  const usage = rows.filter((row) => String(row.pk).startsWith('USAGE#')) as unknown as UsageRow[];

  const dlqItemIds = new Set<string>();
  for (const key of DLQ_OUTPUTS) {
    const url = outputs[key];
    if (url === undefined) continue;
    for (const message of await peekAll(sqs, url)) {
      const id = message.MessageAttributes?.itemId?.StringValue;
      if (id) dlqItemIds.add(id);
    }
  }

  const byState = Object.fromEntries(ITEM_STATES.map((state) => [state, 0])) as Record<ItemState, number>;
  const degraded: Record<string, number> = {};
  const lostItemIds: string[] = [];
  const deadLetters: DeadLetterSummary[] = [];
  const known = new Set<string>();
  for (const item of items) {
    known.add(item.itemId);
    byState[item.state] += 1;
    for (const flag of item.degraded ?? []) degraded[flag] = (degraded[flag] ?? 0) + 1;
    if (item.state === 'DEAD_LETTER') {
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
    } else if (!TERMINAL_STATES.includes(item.state)) {
      lostItemIds.push(item.itemId);
    }
  }
  for (const id of sources.acceptedItemIds ?? []) if (!known.has(id)) lostItemIds.push(id);

  const queues: RunReport['queues'] = {};
  for (const key of [...QUEUE_OUTPUTS, ...DLQ_OUTPUTS]) {
    const url = outputs[key];
    if (url === undefined) continue;
    const depth = await queueDepth(sqs, url);
    queues[key.replace(/Url$/, '')] = { visible: depth.visible + depth.delayed, inFlight: depth.inFlight };
  }

  return {
    items: { total: items.length, byState, degraded, lost: lostItemIds.length, lostItemIds: lostItemIds.sort() },
    deadLetters: deadLetters.sort((a, b) => a.itemId.localeCompare(b.itemId)),
    llm: summariseUsage(usage),
    queues,
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
