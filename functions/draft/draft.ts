import type { SQSRecord } from 'aws-lambda';
import type { RecordInvocation } from '#shared/batch.ts';
import { type CallEntry, sumUsage } from '#shared/call-ledger.ts';
import type { BreakerPermit } from '#shared/circuit-breaker.ts';
import { AWAITING_HISTORY_ATTRIBUTE, NO_HISTORY } from '#shared/degraded-items.ts';
import { describeError, failureLogFields, ItemStateError, StateConflictError } from '#shared/errors.ts';
import type { ItemSession } from '#shared/item-claim.ts';
import { type ItemRecord, type Publication, tokensOfOtherStages } from '#shared/item-store.ts';
import { runLlmStep } from '#shared/llm-step.ts';
import { MEMORY_DEPENDENCY } from '#shared/metric-catalogue.ts';
import { type DraftPayload, draftMessages, type RelatedItem, reviewMessages } from '#shared/prompts.ts';
import { stepSettings } from '#shared/runtime-config.ts';
import {
  type Draft,
  draftMessageSchema,
  draftSchema,
  type Knowledge,
  OUTPUT_FORMATS,
  PUBLISHED_EVENT_VERSION,
  type PublishedEvent,
  type Review,
  reviewSchema,
  SEQUENCE_PER_GENERATION,
} from '#shared/schemas.ts';
import { claimForRecord, renewFailureBudget, runStageRecord } from '#shared/stage-record.ts';
import type { StageRuntime } from '#shared/stage-runtime.ts';
import { keepWebLinks } from './markdown-links.ts';
import { DRAFT_STAGE } from './stage.ts';

const [DRAFTING, REVIEWING] = DRAFT_STAGE.working as [string, string];

/**
 * The draft stage ("right brain"): related past items from memory, a draft, a critic's review against the
 * extracted facts, and bounded redrafts with the critic's feedback; then the post is published.
 *
 * Every LLM response is in the call ledger under a step name (`draft.0`, `review.0`, `draft.1`, ...), so a
 * redelivered or redriven message replays the loop from the ledger and pays only for the steps never answered.
 */

/** Why a published item is flagged. */
const DEGRADED = {
  /** The memory store was down or slow: drafted without related items (can be re-enriched later). */
  noHistory: NO_HISTORY,
  /** The reviewer still rejected the last draft allowed by max revisions. */
  unapproved: 'UNAPPROVED',
  /** Another revision would not fit in the item's token budget: the last draft was published as it was. */
  revisionsCut: 'REVISIONS_CUT',
} as const;

interface MemoryOutcome {
  related: RelatedItem[];
  degraded: boolean;
}

/** @example await draftRecord(runtime, record, invocation) */
export async function draftRecord(runtime: StageRuntime, record: SQSRecord, invocation: RecordInvocation) {
  const parsed = draftMessageSchema.safeParse(parseJson(record.body));
  if (!parsed.success) {
    // Only the extract stage writes this queue; a malformed message here is a bug, not an item.
    runtime.logger.error('malformed draft message', {
      messageId: record.messageId,
      ...failureLogFields(describeError(parsed.error)),
    });
    throw new ItemStateError(`malformed draft message ${record.messageId}`);
  }
  const { itemId, reenrich } = parsed.data;
  const { stage } = runtime.config;
  const read: ReadOnce = {};
  await runStageRecord(runtime, stage, record, invocation, {
    itemId,
    claim: () => claimForRecord(runtime, record, invocation, itemId, { reenrich }),
    done: async ({ item }) => {
      runtime.logger.info('duplicate delivery of a finished item', { itemId, state: item.state });
    },
    work: (session) => draftItem(runtime, session, invocation, read),
    // A lookup that was answered is kept for the next delivery; one that failed is tried again then.
    checkpoint: () =>
      read.memory === undefined || read.memory.outcome.degraded
        ? undefined
        : { relatedItems: { generation: read.memory.generation, related: read.memory.outcome.related } },
  });
}

/**
 * What one delivery reads once, however many times a wait here runs the work again: the item's calls of this
 * stage (kept current by runLlmStep) and the memory lookup.
 */
interface ReadOnce {
  calls?: { ofGeneration: CallEntry[]; earlier: CallEntry[] };
  memory?: { generation: number; outcome: MemoryOutcome };
}

async function draftItem(runtime: StageRuntime, session: ItemSession, invocation: RecordInvocation, read: ReadOnce) {
  const { config } = runtime;
  const item = session.item;
  const knowledge = item.knowledge;
  if (knowledge === undefined) throw new ItemStateError(`item ${item.itemId} has no extraction checkpoint`);
  // Each generation (the first drafting, then each re-enrichment) has its own steps and its own token budget.
  const generation = item.generation ?? 0;
  const prefix = generation === 0 ? '' : `g${generation}.`;
  // One claim a delivery, so one generation: what was read for it stays good through every replay.
  if (read.calls === undefined) {
    const allCalls = await runtime.ledger.list(item.itemId, config.stage);
    const ofGeneration = (call: CallEntry) =>
      generation === 0 ? !/^g\d+\./.test(call.step) : call.step.startsWith(prefix);
    read.calls = {
      ofGeneration: allCalls.filter(ofGeneration),
      earlier: allCalls.filter((call) => !ofGeneration(call)),
    };
  }
  const { ofGeneration: calls, earlier: earlierGenerations } = read.calls;
  const tokensBefore = tokensOfOtherStages(item, config.stage);
  if (read.memory === undefined) {
    const outcome = await relatedItems(runtime, item, knowledge, calls, invocation, `${prefix}draft.0`);
    read.memory = { generation, outcome };
  }
  const memory = read.memory.outcome;

  let previous: { draft: Draft; review: Review } | undefined;
  for (let revision = 0; ; revision += 1) {
    await advance(session, DRAFTING, revision);
    const payload: DraftPayload = {
      item: {
        id: item.itemId,
        title: item.input?.title ?? item.itemId,
        url: item.input?.url,
        source: item.input?.source,
      },
      knowledge,
      related: memory.related,
      revision,
      previousDraft: previous?.draft,
      feedback: previous?.review.feedback,
    };
    const drafted = await runLlmStep(runtime, session, calls, tokensBefore, invocation, {
      stage: config.stage,
      step: 'draft',
      name: `${prefix}draft.${revision}`,
      messages: draftMessages(payload),
      format: { name: OUTPUT_FORMATS.draft, schema: draftSchema },
      context: { related: memory.related, memoryDegraded: memory.degraded },
    });
    const draft = drafted.value;
    if (drafted.paid) await renewFailureBudget(session, config.stage);
    await advance(session, REVIEWING, revision);
    const { value: review, paid: reviewPaid } = await runLlmStep(runtime, session, calls, tokensBefore, invocation, {
      stage: config.stage,
      step: 'review',
      name: `${prefix}review.${revision}`,
      messages: reviewMessages({ knowledge, draft, revision }),
      format: { name: OUTPUT_FORMATS.review, schema: reviewSchema },
    });
    const flags = memory.degraded ? [DEGRADED.noHistory] : [];
    if (review.verdict === 'accept') {
      return publish(runtime, session, [...earlierGenerations, ...calls], {
        draft,
        revision,
        approved: true,
        flags,
        memory,
        knowledge,
      });
    }
    if (revision >= config.maxRevisions) {
      return publish(runtime, session, [...earlierGenerations, ...calls], {
        draft,
        revision,
        approved: false,
        flags: [...flags, DEGRADED.unapproved],
        memory,
        knowledge,
      });
    }
    runtime.logger.info('draft rejected by review; redrafting', { itemId: item.itemId, revision });
    previous = { draft, review };
    if (
      !affordsAnotherRevision(
        runtime,
        calls,
        tokensBefore,
        calls.filter((c) => c.step.startsWith('draft.')),
      )
    ) {
      return publish(runtime, session, [...earlierGenerations, ...calls], {
        draft,
        revision,
        approved: false,
        flags: [...flags, DEGRADED.revisionsCut],
        memory,
        knowledge,
      });
    }
    if (reviewPaid) await renewFailureBudget(session, config.stage);
  }
}

/**
 * The memory lookup is done once per item and generation: its outcome is stored with the first draft call, so a
 * replay drafts from the same history; a delivery that hands the item back before that call keeps an answered
 * lookup on the item (and tries a failed one again next time). A failed or slow lookup degrades the draft instead
 * of failing it.
 */
async function relatedItems(
  runtime: StageRuntime,
  item: ItemRecord,
  knowledge: Knowledge,
  calls: readonly CallEntry[],
  invocation: RecordInvocation,
  firstStep: string,
): Promise<MemoryOutcome> {
  const first = calls.find((call) => call.step === firstStep);
  if (first?.context !== undefined) {
    // Written by this function with the first draft call, so its shape is known.
    const related = (first.context.related as RelatedItem[] | undefined) ?? [];
    return { related, degraded: first.context.memoryDegraded === true };
  }
  // Looked up by an earlier delivery that then handed the item back to wait (runStageRecord's checkpoint).
  if (item.relatedItems !== undefined && item.relatedItems.generation === (item.generation ?? 0)) {
    return { related: item.relatedItems.related, degraded: false };
  }
  const breaker = runtime.breaker(MEMORY_DEPENDENCY);
  let permit: BreakerPermit;
  try {
    permit = await breaker.acquire(invocation.owner);
  } catch (error) {
    runtime.telemetry.dependency(MEMORY_DEPENDENCY, { BreakerOpenWaits: 1 });
    runtime.logger.warn('memory breaker open; drafting without history', {
      itemId: item.itemId,
      ...failureLogFields(describeError(error)),
    });
    return { related: [], degraded: true };
  }
  try {
    const related = await runtime.memory.findRelated({
      topics: knowledge.topics,
      entities: knowledge.entities.map((entity) => entity.name),
      excludeItemId: item.itemId,
      limit: runtime.config.memory.maxRelated,
      timeoutMs: runtime.config.memory.lookupTimeoutMs,
      signal: invocation.signal,
    });
    await breaker.onSuccess(permit);
    return { related, degraded: false };
  } catch (error) {
    await breaker.onFailure(permit);
    runtime.logger.warn('memory unavailable; drafting without history', {
      itemId: item.itemId,
      ...failureLogFields(describeError(error)),
    });
    return { related: [], degraded: true };
  }
}

/** Position in the draft loop: each revision is drafted, then reviewed. Moves only forward, so a replay adds no history. */
const position = (state: string | undefined, revision: number) => revision * 2 + (state === REVIEWING ? 1 : 0);

async function advance(session: ItemSession, state: string, revision: number) {
  const item = session.item;
  const current = item.state === DRAFTING || item.state === REVIEWING ? position(item.state, item.revision ?? 0) : -1;
  if (position(state, revision) <= current) return;
  await session.update({ state, set: { revision } });
}

/** Whether one more draft and review fit in the item's token budget, judged by the largest draft so far. */
function affordsAnotherRevision(
  runtime: StageRuntime,
  calls: readonly CallEntry[],
  tokensBefore: number,
  drafts: readonly CallEntry[],
) {
  const used = tokensBefore + calls.reduce((sum, call) => sum + call.promptTokens + call.completionTokens, 0);
  const largest = Math.max(0, ...drafts.map((call) => call.promptTokens + call.completionTokens));
  const { config } = runtime;
  const reserved = stepSettings(config, 'draft').maxOutputTokens + stepSettings(config, 'review').maxOutputTokens;
  return used + Math.max(2 * largest, reserved) <= config.itemTokenBudget;
}

interface Outcome {
  draft: Draft;
  revision: number;
  approved: boolean;
  flags: string[];
  memory: MemoryOutcome;
  knowledge: Knowledge;
}

/**
 * Remembers the post, announces it on the published queue, and only then marks the item PUBLISHED: an item is
 * PUBLISHED only once its event is out. A crash between the send and the state write re-sends the same event
 * (same `publicationId`) on redelivery; consumers dedupe on it.
 */
async function publish(runtime: StageRuntime, session: ItemSession, calls: readonly CallEntry[], outcome: Outcome) {
  const item = session.item;
  const publishedAt = new Date(runtime.now()).toISOString();
  const publication: Publication = {
    publicationId: `${item.itemId}#${item.generation ? `g${item.generation}#` : ''}${outcome.revision}`,
    title: outcome.draft.title,
    revision: outcome.revision,
    approved: outcome.approved,
    relatedItemIds: outcome.memory.related.map((r) => r.itemId),
    publishedAt,
  };
  const flags = [...outcome.flags];
  if (!outcome.memory.degraded) {
    try {
      await runtime.memory.remember({
        itemId: item.itemId,
        title: outcome.draft.title,
        summary: outcome.knowledge.summary,
        publishedAt,
        topics: outcome.knowledge.topics,
        entities: outcome.knowledge.entities.map((entity) => entity.name),
      });
    } catch (error) {
      runtime.logger.warn('published item not remembered', {
        itemId: item.itemId,
        ...failureLogFields(describeError(error)),
      });
    }
  }
  // The model's Markdown goes out with http and https links only (a pure function of the draft: a re-sent event is the same).
  const { markdown, removed } = keepWebLinks(outcome.draft.markdown);
  if (removed.length > 0) {
    runtime.logger.warn('published post: links that are not http or https taken out', {
      itemId: item.itemId,
      removedLinks: removed.length,
      schemes: [...new Set(removed)],
    });
  }
  const generation = item.generation ?? 0;
  const input = item.input;
  const event: PublishedEvent = {
    schemaVersion: PUBLISHED_EVENT_VERSION,
    itemId: item.itemId,
    publicationId: publication.publicationId,
    sequence: SEQUENCE_PER_GENERATION * generation + outcome.revision,
    generation,
    revision: outcome.revision,
    approved: outcome.approved,
    title: outcome.draft.title,
    markdown,
    degraded: flags,
    source: {
      title: input?.title ?? item.itemId,
      ...(input?.url !== undefined && { url: input.url }),
      ...(input?.source !== undefined && { source: input.source }),
      ...(input?.author !== undefined && { author: input.author }),
      ...(input?.publishedAt !== undefined && { publishedAt: input.publishedAt }),
    },
    knowledge: {
      summary: outcome.knowledge.summary,
      topics: outcome.knowledge.topics,
      entities: outcome.knowledge.entities,
      language: outcome.knowledge.language,
    },
    relatedItemIds: publication.relatedItemIds,
    publishedAt,
  };
  await runtime.queues.sendNext(event);
  runtime.faults?.crashPoint('after-send', item.itemId);
  try {
    await session.update({
      state: runtime.config.states.done,
      set: {
        publication,
        degraded: flags,
        usage: { ...item.usage, [runtime.config.stage]: sumUsage(calls) },
        // Listed on the sparse index re-enrichment reads, until it is drafted again.
        ...(flags.includes(DEGRADED.noHistory) && { [AWAITING_HISTORY_ATTRIBUTE]: NO_HISTORY }),
      },
      remove: ['leaseOwner', 'leaseUntil', 'pendingCall', 'deferredSince', 'relatedItems'],
    });
    runtime.telemetry.count('ItemsPublished');
    if (flags.length > 0) runtime.telemetry.count('ItemsDegraded');
    runtime.faults?.crashPoint('after-checkpoint', item.itemId);
  } catch (error) {
    if (error instanceof StateConflictError) {
      // Our lease was taken over while we published; the other invocation finishes the same replay.
      runtime.logger.warn('item moved while publishing', { itemId: item.itemId });
      return;
    }
    throw error;
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
