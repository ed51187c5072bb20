import { CommandError } from '#ops/errors.ts';
import { sendBodies } from '#ops/queue-io.ts';
import { reenrichingLane, type Target } from '#ops/target.ts';
import { readBreakerRecord } from '#shared/circuit-breaker.ts';
import { itemsWithoutHistory } from '#shared/degraded-items.ts';
import { MEMORY_DEPENDENCY } from '#shared/metric-catalogue.ts';

/**
 * Re-enrichment: published items drafted without history (NO_HISTORY) sent back to the re-enriching stage once
 * the memory answers again. For `sluice reenrich` and the console.
 */

/**
 * Ids of the published items flagged NO_HISTORY, oldest first.
 * @example const ids = await itemIdsWithoutHistory(target, '2026-11-01T00:00:00.000Z', 50);
 */
async function itemIdsWithoutHistory(
  target: Target,
  since: string | undefined,
  max: number | undefined,
): Promise<string[]> {
  const items = await itemsWithoutHistory(target.dynamo, target.stateTableName, { since, max });
  return items.map((item) => item.itemId);
}

/** Throws CommandError while the memory breaker is not closed. */
async function requireMemoryBreakerClosed(target: Target): Promise<void> {
  const breaker = await readBreakerRecord(target.dynamo, target.stateTableName, MEMORY_DEPENDENCY);
  if (breaker.state === 'closed') return;
  // Open with its cooldown over: the first redraft's lookup is the probe that closes it (or opens it again).
  if (breaker.state === 'open' && (breaker.openUntil ?? 0) <= Date.now()) return;
  const at = (ms: number | undefined) => (ms === undefined ? '?' : new Date(ms).toISOString());
  const probe =
    breaker.state === 'open'
      ? `a draft may probe the memory store from ${at(breaker.openUntil)}`
      : `a draft is probing the memory store (until ${at(breaker.probeUntil)})`;
  throw new CommandError(
    `the memory breaker is ${breaker.state} (opened ${at(breaker.openedAt)}): redrafts now would go without history ` +
      `again. It closes after a draft's successful memory lookup (${probe}); try again once 'sluice status' shows it closed.`,
  );
}

/** What `sluice reenrich --json` prints. */
export interface ReenrichReport {
  target: string;
  since: string | null;
  dryRun: boolean;
  found: number;
  sent: number;
  itemIds: string[];
}

export interface ReenrichRequest {
  /** An ISO 8601 instant: only items last updated since then. */
  since?: string | undefined;
  max?: number | undefined;
  dryRun: boolean;
}

/**
 * Re-queues the published items flagged NO_HISTORY on the draft queue (or, in a dry run, lists them).
 * @throws {CommandError} while the memory breaker is open, or when a send fails (naming how many were sent).
 * @example const report = await reenrich(target, { since: '2026-11-01T00:00:00.000Z', dryRun: true });
 */
export async function reenrich(target: Target, request: ReenrichRequest): Promise<ReenrichReport> {
  await requireMemoryBreakerClosed(target);
  const itemIds = await itemIdsWithoutHistory(target, request.since, request.max);
  const queueUrl = reenrichingLane(target).queue.url;
  let sent = 0;
  if (!request.dryRun && itemIds.length > 0) {
    const bodies = itemIds.map((itemId) => JSON.stringify({ itemId, reenrich: true }));
    try {
      sent = (
        await sendBodies(target.sqs, queueUrl, bodies, (count) => {
          sent = count;
        })
      ).length;
    } catch (error) {
      throw new CommandError(`re-queued ${sent} of ${itemIds.length} item(s), then: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
  return {
    target: target.description,
    since: request.since ?? null,
    dryRun: request.dryRun,
    found: itemIds.length,
    sent,
    itemIds,
  };
}
