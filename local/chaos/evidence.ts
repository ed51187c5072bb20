import type { Message, SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import type { SluiceConfig } from '#lib/config.ts';
import { PUBLISHED_QUEUE_KEY, queueOutputKeys } from '#lib/outputs.ts';
import { peekAll, queueDepth } from '#ops/queue-io.ts';
import { requiredOutput, scanAll } from '#ops/table-reads.ts';
import type { CallEntry, UsageRow } from '#shared/call-ledger.ts';
import type { ItemRecord } from '#shared/item-store.ts';
import type { Pipeline, StageDefinition } from '#shared/pipeline.ts';
import { type PublishedEvent, publishedEventSchema } from '#shared/schemas.ts';
import { isCallRow, recordKindOf } from '#shared/table-keys.ts';
import type { SimulatorStats } from '#sim/server.ts';
import type { CrashCounts, CrashReport } from './crashes.ts';
import type { Scenario } from './scenario.ts';
import type { SelfHealingInput } from './self-healing.ts';
import type { TimelineReport } from './timeline.ts';

/**
 * What the chaos checker reads after a run, from the outside: every record of the state table, every queue and
 * DLQ, the published events. The invariants (invariants/) are pure functions of this; nothing here trusts the
 * runtime's own view of what it did.
 */

/** The dead-lettered items whose messages were sent again after the run settled, as they were before. */
export interface LateDuplicates {
  /** Messages sent (intake and draft). */
  sent: number;
  items: { itemId: string; version: number; deadLetterId: string | undefined; ledgerEntries: number }[];
  /** Calls the stages made to the provider (the supervisor's probes left out) before and after they were sent. */
  stageCallsBefore: number;
  stageCallsAfter: number;
}

export interface CheckerInput {
  scenario: Scenario;
  /** The pipeline the run ran: its stages, states and queues. */
  pipeline: Pipeline;
  sqs: SQSClient;
  dynamo: DynamoDBDocumentClient;
  outputs: Readonly<Record<string, string>>;
  /** Ids of the items the intake accepted (from the messages sent), and which of them are poison. */
  accepted: { itemIds: readonly string[]; poisonItemIds: readonly string[] };
  messages: { sent: number; duplicates: number };
  crashes: CrashReport & { forItem(itemId: string): CrashCounts };
  simulator: SimulatorStats | undefined;
  timeline: TimelineReport;
  /** Invocations the event sources abandoned at the function timeout (a crash the chaos run did not inject). */
  pollerTimeouts: number;
  /** Whether the pipeline settled (every item finished, or parked when that is expected) before the timeout. */
  settled: boolean;
  /** Why the wait ended when it did not settle, e.g. `nothing moved for the 90 s drain timeout`. */
  unsettled?: string;
  elapsedMs: number;
  /** Calls the provider answered to the supervisor's probes: they belong to no item, so no ledger entry. */
  probeCallsAnswered?: number;
  /** What self-healing is checked from (see self-healing.ts). */
  selfHealing?: Omit<SelfHealingInput, 'scenario' | 'timeline'>;
  /** Scenarios with `lateDuplicates`: what the duplicates were sent to. */
  lateDuplicates?: LateDuplicates;
}

/** A message in a DLQ, as the checks need it. */
export interface DeadLetterMessage {
  messageId: string;
  itemId: string | undefined;
  /** The dead-letter id the handler put on it (absent on messages the queue's redrive moved). */
  deadLetterId: string | undefined;
  queue: string;
  /** The provider's status named by the error the message carries, if any. */
  status: number | undefined;
}

export interface BudgetRecord {
  day: string;
  committedNano: number;
  spentNano: number;
}

/** A queue of the pipeline by its name in the report (`intake`, `intakeDlq`, …, `published`). */
export interface NamedQueue {
  name: string;
  outputKey: string;
  stage?: StageDefinition;
  dlq: boolean;
}

/** Everything a run left behind, read once; the input to every invariant. */
export interface RunEvidence {
  input: CheckerInput;
  scenario: Scenario;
  config: SluiceConfig;
  pipeline: Pipeline;
  /** The last stage, which publishes. */
  publisher: StageDefinition;
  items: ReadonlyMap<string, ItemRecord>;
  calls: readonly CallEntry[];
  callsByItem: ReadonlyMap<string, CallEntry[]>;
  usage: readonly UsageRow[];
  budgets: readonly BudgetRecord[];
  breakerOpens: Record<string, number>;
  /** Depth of every queue by its report name. */
  queues: Record<string, { visible: number; inFlight: number; delayed: number }>;
  /** Report names of the stages' input queues. */
  stageQueues: readonly string[];
  dlq: { byItem: ReadonlyMap<string, DeadLetterMessage[]>; backstop: readonly DeadLetterMessage[] };
  events: { valid: readonly PublishedEvent[]; invalid: readonly string[] };
  /** Accepted item ids, each once. */
  acceptedIds: readonly string[];
  poisonIds: ReadonlySet<string>;
}

/**
 * Reads the run's outcome from the state table and every queue.
 * @example const run = await gatherEvidence(input); lostCheck(run).ok
 */
export async function gatherEvidence(input: CheckerInput): Promise<RunEvidence> {
  const { scenario, sqs, outputs, pipeline } = input;
  const allQueues = queuesOf(pipeline);
  const rows = await scanAll(input.dynamo, requiredOutput(outputs, 'StateTableName'));
  const items = new Map<string, ItemRecord>();
  const calls: CallEntry[] = [];
  const usage: UsageRow[] = [];
  const budgets: BudgetRecord[] = [];
  const breakerOpens: Record<string, number> = {};
  for (const row of rows) {
    const record = recordKindOf(String(row.pk));
    // The table is written only by sluice's own modules, so each record's shape is known from its key.
    if (record?.kind === 'item' && row.sk === 'ITEM') items.set(String(row.itemId), row as unknown as ItemRecord);
    else if (isCallRow(row)) calls.push(row as unknown as CallEntry);
    else if (record?.kind === 'usage') usage.push(row as unknown as UsageRow);
    else if (record?.kind === 'budget')
      budgets.push({
        day: record.name,
        committedNano: Number(row.committedNano ?? 0),
        spentNano: Number(row.spentNano ?? 0),
      });
    else if (record?.kind === 'breaker') breakerOpens[record.name] = Number(row.opens ?? 0);
  }
  const queues: RunEvidence['queues'] = {};
  for (const { name, outputKey } of allQueues) {
    const url = outputs[outputKey];
    if (url !== undefined) queues[name] = await queueDepth(sqs, url);
  }
  return {
    input,
    scenario,
    config: scenario.pipeline,
    pipeline,
    publisher: pipeline.stages[pipeline.stages.length - 1] as StageDefinition,
    items,
    calls,
    callsByItem: groupBy(calls, (call) => call.itemId),
    usage,
    budgets,
    breakerOpens,
    queues,
    stageQueues: allQueues.filter((queue) => queue.stage !== undefined).map((queue) => queue.name),
    dlq: await readDeadLetterQueues(sqs, outputs, allQueues),
    events: await readEvents(sqs, outputs),
    acceptedIds: [...new Set(input.accepted.itemIds)],
    poisonIds: new Set(input.accepted.poisonItemIds),
  };
}

/** The provider's HTTP status behind an LLM call error, when the error record names one. */
export function statusOf(error: Pick<NonNullable<ItemRecord['deadLetter']>, 'errorClass' | 'message'> | undefined) {
  if (error?.errorClass !== 'LlmCallError') return undefined;
  const status = /answered (\d{3})/.exec(error.message)?.[1];
  return status === undefined ? undefined : Number(status);
}

function queuesOf(pipeline: Pipeline): NamedQueue[] {
  const named = (queueKey: string) => queueKey.charAt(0).toLowerCase() + queueKey.slice(1);
  const lanes = [
    ...pipeline.stages.map((stage) => ({ queueKey: stage.queueKey, stage })),
    { queueKey: PUBLISHED_QUEUE_KEY, stage: undefined },
  ];
  return lanes.flatMap(({ queueKey, stage }) => {
    const keys = queueOutputKeys(queueKey);
    return [
      { name: named(queueKey), outputKey: keys.url, ...(stage && { stage }), dlq: false },
      { name: `${named(queueKey)}Dlq`, outputKey: keys.deadLetterUrl, dlq: true },
    ];
  });
}

/** Every DLQ message by item; messages without an `itemId` attribute were moved by the queue's redrive. */
async function readDeadLetterQueues(
  sqs: SQSClient,
  outputs: Readonly<Record<string, string>>,
  queues: readonly NamedQueue[],
): Promise<RunEvidence['dlq']> {
  const byItem = new Map<string, DeadLetterMessage[]>();
  const backstop: DeadLetterMessage[] = [];
  for (const key of queues.filter((queue) => queue.dlq).map((queue) => queue.outputKey)) {
    const url = outputs[key];
    if (url === undefined) continue;
    for (const message of await peekAll(sqs, url)) {
      const attributed = message.MessageAttributes?.itemId?.StringValue;
      const entry = {
        messageId: message.MessageId ?? '',
        itemId: attributed ?? itemIdInBody(message),
        deadLetterId: message.MessageAttributes?.deadLetterId?.StringValue,
        queue: key,
        status: statusOf({
          errorClass: message.MessageAttributes?.errorClass?.StringValue ?? '',
          message: message.MessageAttributes?.errorMessage?.StringValue ?? '',
        }),
      };
      if (attributed === undefined) {
        backstop.push(entry);
        continue;
      }
      byItem.set(attributed, [...(byItem.get(attributed) ?? []), entry]);
    }
  }
  return { byItem, backstop };
}

const bodyWithIdSchema = z.union([
  z.object({ itemId: z.string() }).transform((body) => body.itemId),
  z.object({ id: z.string() }).transform((body) => body.id),
]);

function itemIdInBody(message: Message): string | undefined {
  try {
    const parsed = bodyWithIdSchema.safeParse(JSON.parse(message.Body ?? ''));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

async function readEvents(sqs: SQSClient, outputs: Readonly<Record<string, string>>): Promise<RunEvidence['events']> {
  const valid: PublishedEvent[] = [];
  const invalid: string[] = [];
  const url = outputs[queueOutputKeys(PUBLISHED_QUEUE_KEY).url];
  if (url === undefined) return { valid, invalid };
  for (const message of await peekAll(sqs, url)) {
    let raw: unknown;
    try {
      raw = JSON.parse(message.Body ?? '');
    } catch {
      invalid.push(message.MessageId ?? '');
      continue;
    }
    const parsed = publishedEventSchema.safeParse(raw);
    if (parsed.success) valid.push(parsed.data);
    else invalid.push(message.MessageId ?? '');
  }
  return { valid, invalid };
}

function groupBy<T>(values: readonly T[], key: (value: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const value of values) {
    const k = key(value);
    const group = groups.get(k);
    if (group) group.push(value);
    else groups.set(k, [value]);
  }
  return groups;
}
