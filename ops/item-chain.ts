import * as z from 'zod';
import type { Target } from '#ops/target.ts';
import { type CallEntry, CallLedger, nanoToUsd } from '#shared/call-ledger.ts';
import { type ItemRecord, ItemStore } from '#shared/item-store.ts';
import { type Draft, draftSchema, type Review, reviewSchema } from '#shared/schemas.ts';

/**
 * One item's whole chain from the state table and its call ledger: input, knowledge, drafts and reviews, memory
 * use, every LLM call. For `sluice show` and the console.
 */

/** One draft of the loop and the review it got, read back from the ledger. */
export interface DraftRound {
  /** 0 for the item's first publication; re-enrichment drafts again as generation 1, 2, ... */
  generation: number;
  revision: number;
  draft: Draft | undefined;
  review: Review | undefined;
  verdict: 'accepted' | 'rejected' | 'not reviewed';
  published: boolean;
}

export interface MemoryUse {
  generation: number;
  degraded: boolean;
  related: { itemId: string; title: string }[];
}

export interface CallLine {
  stage: string;
  step: string;
  n: number;
  model: string;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  latencyMs: number;
  outcome: string;
  rebilled: boolean;
  at: string;
}

export interface ItemChain {
  item: ItemRecord;
  drafts: DraftRound[];
  memory: MemoryUse[];
  calls: CallLine[];
  totals: { calls: number; promptTokens: number; completionTokens: number; costUsd: number; rebilledCalls: number };
}

const STEP = /^(?:g(\d+)\.)?(draft|review)\.(\d+)$/;
const relatedSchema = z.array(z.object({ itemId: z.string(), title: z.string() }).loose());

/**
 * The item's chain, assembled from its record and its call ledger.
 * @example const chain = assembleChain(item, await ledger.list(item.itemId));
 */
function assembleChain(item: ItemRecord, entries: readonly CallEntry[]): ItemChain {
  const rounds = new Map<string, DraftRound>();
  const memory: MemoryUse[] = [];
  const publication = item.publication as (ItemRecord['publication'] & { generation?: number }) | undefined;
  for (const entry of entries) {
    const step = STEP.exec(entry.step);
    if (entry.stage !== 'draft' || step === null) continue;
    const generation = Number(step[1] ?? 0);
    const revision = Number(step[3]);
    const key = `${generation}.${revision}`;
    const round = rounds.get(key) ?? {
      generation,
      revision,
      draft: undefined,
      review: undefined,
      verdict: 'not reviewed',
      published: false,
    };
    rounds.set(key, round);
    // A step may have several paid calls (an invalid output, then a valid one): the last valid one counts.
    if (step[2] === 'draft') {
      round.draft = parsed(entry, draftSchema) ?? round.draft;
      if (revision === 0 && entry.context !== undefined && !memory.some((m) => m.generation === generation)) {
        const related = relatedSchema.safeParse(entry.context.related);
        memory.push({
          generation,
          degraded: entry.context.memoryDegraded === true,
          related: related.success ? related.data.map(({ itemId, title }) => ({ itemId, title })) : [],
        });
      }
    } else {
      round.review = parsed(entry, reviewSchema) ?? round.review;
      if (round.review) round.verdict = round.review.verdict === 'accept' ? 'accepted' : 'rejected';
    }
  }
  const drafts = [...rounds.values()].sort((a, b) => a.generation - b.generation || a.revision - b.revision);
  if (item.state === 'PUBLISHED' && publication !== undefined) {
    const generation = publication.generation ?? Math.max(0, ...drafts.map((d) => d.generation));
    const round = drafts.find((d) => d.generation === generation && d.revision === publication.revision);
    if (round) round.published = true;
  }
  const calls = entries.map(
    (entry): CallLine => ({
      stage: entry.stage,
      step: entry.step,
      n: entry.n,
      model: entry.model,
      promptTokens: entry.promptTokens,
      completionTokens: entry.completionTokens,
      costUsd: nanoToUsd(entry.costNanoUsd),
      latencyMs: entry.latencyMs,
      outcome: entry.outcome,
      rebilled: entry.rebilled === true,
      at: entry.at,
    }),
  );
  calls.sort((a, b) => a.at.localeCompare(b.at) || a.step.localeCompare(b.step) || a.n - b.n);
  const costNano = entries.reduce((sum, entry) => sum + entry.costNanoUsd, 0);
  return {
    item,
    drafts,
    memory: memory.sort((a, b) => a.generation - b.generation),
    calls,
    totals: {
      calls: calls.length,
      promptTokens: calls.reduce((sum, call) => sum + call.promptTokens, 0),
      completionTokens: calls.reduce((sum, call) => sum + call.completionTokens, 0),
      costUsd: nanoToUsd(costNano),
      rebilledCalls: calls.filter((call) => call.rebilled).length,
    },
  };
}

/** The ledger keeps the raw completion; it is shown only when it still matches its schema. */
function parsed<T>(entry: CallEntry, schema: z.ZodType<T>): T | undefined {
  if (entry.outcome !== 'ok') return undefined;
  try {
    const result = schema.safeParse(JSON.parse(entry.content));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The item's chain read from the stack's state table (its record and its call ledger), or undefined when the
 * table has no such item.
 * @example const chain = await readItemChain(target, 'sample-001');
 */
export async function readItemChain(target: Target, itemId: string): Promise<ItemChain | undefined> {
  const item = await new ItemStore(target.dynamo, target.stateTableName, Date.now).get(itemId);
  if (item === undefined) return undefined;
  const entries = await new CallLedger(target.dynamo, target.stateTableName).list(itemId);
  return assembleChain(item, entries);
}
