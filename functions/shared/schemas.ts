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

/** Event on the published queue. `publicationId` is stable per item and revision so consumers can dedupe. */
export const publishedEventSchema = z
  .object({
    itemId: z.string(),
    publicationId: z.string(),
    title: z.string(),
    markdown: z.string(),
    revision: z.number().int().min(0),
    approved: z.boolean(),
    degraded: z.array(z.string()),
    relatedItemIds: z.array(z.string()),
    publishedAt: z.string(),
  })
  .strict();
export type PublishedEvent = z.infer<typeof publishedEventSchema>;
