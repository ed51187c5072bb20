import * as z from 'zod';

/**
 * Wire and storage schemas shared by both stages, the LLM simulator and the local runtime.
 * The intake item is what producers send; the structured outputs are what the LLM must return.
 */

const ITEM_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * Why an item's `url` is refused, naming its scheme when it has one: only http and https reach the prompt, since
 * the URL is what the draft links its source to (`javascript:`, `data:`, `file:`, `vbscript:` would become links).
 */
function webUrlError(input: unknown): string {
  if (typeof input !== 'string') return `must be a string holding an http or https URL (got ${typeof input})`;
  const text = input;
  if (URL.canParse(text)) return `must be an http or https URL, not ${new URL(text).protocol} (got ${shownUrl(text)})`;
  return `must be an absolute http or https URL (got ${shownUrl(text)})`;
}

const shownUrl = (text: string) => JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}...` : text);

/** A raw item as producers put it on the intake queue. */
export const intakeItemSchema = z
  .object({
    id: z
      .string()
      .regex(
        ITEM_ID,
        'id must be 1-128 characters of letters, digits, ".", "_", ":" or "-", the first a letter or digit',
      ),
    title: z.string().trim().min(1, 'title must not be empty').max(500),
    body: z.string().trim().min(40, 'body must have at least 40 characters').max(100_000),
    url: z.url({ protocol: /^https?$/, error: (issue) => webUrlError(issue.input) }).optional(),
    source: z.string().max(200).optional(),
    author: z.string().max(200).optional(),
    publishedAt: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();
export type IntakeItem = z.infer<typeof intakeItemSchema>;

/** Structured knowledge the extract stage asks the LLM for. */
export const knowledgeSchema = z
  .object({
    summary: z.string().min(1),
    keyClaims: z.array(z.string().min(1)).min(1).max(12),
    entities: z
      .array(
        z
          .object({
            name: z.string().min(1),
            kind: z.enum(['person', 'organization', 'product', 'place', 'technology', 'other']),
          })
          .strict(),
      )
      .max(30),
    topics: z.array(z.string().min(1)).min(1).max(8),
    language: z.string().min(2).max(8),
  })
  .strict();
export type Knowledge = z.infer<typeof knowledgeSchema>;

/** A blog-post draft the draft stage asks the LLM for. */
export const draftSchema = z
  .object({
    title: z.string().min(1),
    markdown: z.string().min(1),
    citedClaims: z.array(z.string()).max(20),
  })
  .strict();
export type Draft = z.infer<typeof draftSchema>;

/** The critic's verdict on a draft, checked against the extracted facts. */
export const reviewSchema = z
  .object({
    verdict: z.enum(['accept', 'reject']),
    feedback: z.string(),
    unsupportedClaims: z.array(z.string()).max(20),
  })
  .strict();
export type Review = z.infer<typeof reviewSchema>;

/** Names of the structured-output formats; the simulator picks its generator by this name. */
export const OUTPUT_FORMATS = {
  knowledge: 'knowledge_extraction',
  draft: 'blog_draft',
  review: 'draft_review',
} as const;

/**
 * Message on the draft queue: everything else is read from the state table. `reenrich` asks for a published
 * item that was drafted without history (NO_HISTORY) to be drafted again, now that the memory can answer.
 */
export const draftMessageSchema = z
  .object({ itemId: z.string().regex(ITEM_ID), reenrich: z.literal(true).optional() })
  .strict();

/** The published event's schema version (docs/published-event.md): bumped on any change a consumer must know. */
export const PUBLISHED_EVENT_VERSION = 1;

/** How much `sequence` grows per generation: more than the revisions one generation can have (at most 11). */
export const SEQUENCE_PER_GENERATION = 100;

/**
 * Event on the published queue, documented in docs/published-event.md. `publicationId` is stable per item,
 * generation and revision so consumers can dedupe; `sequence` only grows across an item's publications (a
 * re-enrichment's post comes after the first), so a consumer keeps the post with the highest.
 */
export const publishedEventSchema = z
  .object({
    schemaVersion: z.literal(PUBLISHED_EVENT_VERSION),
    itemId: z.string(),
    publicationId: z.string(),
    /** 100 × generation + revision. */
    sequence: z.number().int().min(0),
    /** 0 for the first drafting, then one more per re-enrichment. */
    generation: z.number().int().min(0),
    revision: z.number().int().min(0),
    approved: z.boolean(),
    title: z.string(),
    markdown: z.string(),
    /** Why the post is flagged (NO_HISTORY, UNAPPROVED, REVISIONS_CUT); empty when it is not. */
    degraded: z.array(z.string()),
    /** The source item as the producer sent it (title, url, source, author, when it was published). */
    source: z
      .object({
        title: z.string(),
        url: z.string().optional(),
        source: z.string().optional(),
        author: z.string().optional(),
        publishedAt: z.string().optional(),
      })
      .strict(),
    /** What the extract stage found in it. */
    knowledge: z
      .object({
        summary: z.string(),
        topics: z.array(z.string()),
        entities: z.array(z.object({ name: z.string(), kind: z.string() }).strict()),
        language: z.string(),
      })
      .strict(),
    relatedItemIds: z.array(z.string()),
    publishedAt: z.string(),
  })
  .strict();
export type PublishedEvent = z.infer<typeof publishedEventSchema>;
