import type { Logger } from '@aws-lambda-powertools/logger';
import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { CircuitBreaker } from '#shared/circuit-breaker.ts';
import { itemsAwaitingHistory } from '#shared/degraded-items.ts';
import { BreakerOpenError, describeError, failureLogFields } from '#shared/errors.ts';
import type { MemoryStore } from '#shared/memory-store.ts';
import { MEMORY_DEPENDENCY } from '#shared/metric-catalogue.ts';
import { itemKey } from '#shared/table-keys.ts';
import { type EmfSink, Telemetry } from '#shared/telemetry.ts';
import { supervisorBreaker } from './breakers.ts';
import type { SupervisorRuntimeConfig } from './runtime-config.ts';

/** SQS takes at most ten entries a batch. */
const SEND_BATCH = 10;

export interface ReenrichmentContext {
  config: SupervisorRuntimeConfig;
  dynamo: DynamoDBDocumentClient;
  tableName: string;
  sqs: SQSClient;
  /** The memory store, probed with one lookup (through its breaker) while the memory breaker is open. */
  memory?: MemoryStore | undefined;
  logger: Logger;
  emf?: EmfSink | undefined;
  now: () => number;
  sleep: (ms: number) => Promise<void>;
}

/**
 * Re-queues items published without history on the re-enriching stage's queue, once the memory store answers the
 * supervisor's own lookup: at most `maxPerRun` a look, `perSecond`, `maxPerItem` times per item. A repeated
 * message is harmless: the stage redrafts an item only while it is published without history. Returns how many.
 * @example const sent = await reenrich(context, 'https://sqs…/DraftInputQueue');
 */
export async function reenrich(context: ReenrichmentContext, queueUrl: string): Promise<number> {
  const { config, dynamo, tableName, sqs, logger, now } = context;
  if (!(await memoryAvailable(context))) return 0;
  const { maxPerRun, perSecond, maxPerItem } = config.reenrich;
  const items = await itemsAwaitingHistory(dynamo, tableName, {
    max: maxPerRun,
    // Not re-queued since its last publication, and not too often.
    accept: (item) =>
      item.autoReenrichments < maxPerItem &&
      (item.reenrichQueuedAt === undefined || item.reenrichQueuedAt < item.updatedAt),
  });
  const stage = config.reenrichStage;
  if (items.length === 0 || stage === undefined) return 0;
  const perBatch = Math.min(SEND_BATCH, perSecond);
  let sent = 0;
  const telemetry = new Telemetry({ stage, sink: context.emf });
  try {
    for (let start = 0; start < items.length; start += perBatch) {
      const started = now();
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
      const at = new Date(now()).toISOString();
      // Marked after the send: a crash in between sends the item again next look, which the stage ignores.
      await Promise.all(
        queued.map((item) =>
          dynamo.send(
            new UpdateCommand({
              TableName: tableName,
              Key: itemKey(item.itemId),
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
      const spacing = (1000 * batch.length) / perSecond - (now() - started);
      if (start + perBatch < items.length && spacing > 0) await context.sleep(spacing);
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
async function memoryAvailable(context: ReenrichmentContext) {
  const { config, memory, logger } = context;
  if (memory === undefined) return false;
  const breaker = supervisorBreaker(context, MEMORY_DEPENDENCY, config.memory.lookupTimeoutMs);
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
