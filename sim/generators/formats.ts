import * as z from 'zod';
import type { DraftPayload, ExtractPayload, ReviewPayload } from '#shared/prompts.ts';
import { readPayload } from '#shared/prompts.ts';
import {
  type Draft,
  draftSchema,
  type Knowledge,
  knowledgeSchema,
  OUTPUT_FORMATS,
  type Review,
  reviewSchema,
} from '#shared/schemas.ts';
import { type CountableMessage, messageText } from '../tokens.ts';
import { generateDraft } from './draft.ts';
import { answerFromSchema } from './from-schema.ts';
import { generateKnowledge } from './knowledge.ts';
import { generateReview } from './review.ts';
import { splitSentences, squash, truncateAtWord } from './text.ts';

/**
 * Picks the answer for a request: the structured-output format name selects the generator, the payload is
 * read from the fenced JSON block of the last user message. Input it cannot read gets a plain but valid
 * answer, never an exception.
 */

/**
 * What the simulator answers with, by `response_format.json_schema.name`: sluice's own formats have generators
 * that read the prompt's payload; any other format with a schema is answered from the schema (`schema`);
 * `text` for everything else.
 */
export type AnswerFormat = (typeof OUTPUT_FORMATS)[keyof typeof OUTPUT_FORMATS] | 'schema' | 'text';

export interface Answer {
  format: AnswerFormat;
  /** The assistant message content. */
  content: string;
}

// Lenient on purpose: the simulator answers whatever a caller sends; only the fields it uses must be there.
const itemSchema = z.object({
  id: z.string(),
  title: z.string(),
  body: z.string(),
  url: z.string().optional(),
  source: z.string().optional(),
  author: z.string().optional(),
  publishedAt: z.string().optional(),
});
const extractPayloadSchema = z.object({ item: itemSchema }) satisfies z.ZodType<ExtractPayload>;
const draftPayloadSchema = z.object({
  item: z.object({ id: z.string(), title: z.string(), url: z.string().optional(), source: z.string().optional() }),
  knowledge: knowledgeSchema,
  related: z.array(z.object({ itemId: z.string(), title: z.string(), summary: z.string() })).default([]),
  revision: z.number().int().min(0).default(0),
  previousDraft: draftSchema.optional(),
  feedback: z.string().optional(),
}) satisfies z.ZodType<DraftPayload>;
const reviewPayloadSchema = z.object({
  knowledge: knowledgeSchema,
  draft: draftSchema,
  revision: z.number().int().min(0).default(0),
}) satisfies z.ZodType<ReviewPayload>;

const FORMAT_NAMES: ReadonlySet<string> = new Set(Object.values(OUTPUT_FORMATS));

function isStructuredFormat(name: string | undefined): name is Exclude<AnswerFormat, 'schema' | 'text'> {
  return name !== undefined && FORMAT_NAMES.has(name);
}

/**
 * The answer to a chat request with the given structured-output name (undefined for plain text) and, when the
 * request carries one, its JSON schema.
 * @example answerFor('draft_review', messages) // { format: 'draft_review', content: '{"verdict":"accept",...}' }
 */
export function answerFor(
  formatName: string | undefined,
  messages: readonly CountableMessage[],
  schema?: Readonly<Record<string, unknown>>,
): Answer {
  const lastUser = [...messages].reverse().find((message) => message.role === 'user');
  const userText = lastUser === undefined ? '' : messageText(lastUser);
  if (!isStructuredFormat(formatName) && formatName !== undefined && schema !== undefined) {
    const seedText = `${formatName}\n${messages.map(messageText).join('\n')}`;
    return { format: 'schema', content: JSON.stringify(answerFromSchema(schema, seedText)) };
  }
  const format: AnswerFormat = isStructuredFormat(formatName) ? formatName : 'text';
  const payload = readPayload(userText);

  switch (format) {
    case OUTPUT_FORMATS.knowledge: {
      const parsed = extractPayloadSchema.safeParse(payload);
      return {
        format,
        content: JSON.stringify(parsed.success ? generateKnowledge(parsed.data) : knowledgeOf(userText)),
      };
    }
    case OUTPUT_FORMATS.draft: {
      const parsed = draftPayloadSchema.safeParse(payload);
      return { format, content: JSON.stringify(parsed.success ? generateDraft(parsed.data) : UNREADABLE_DRAFT) };
    }
    case OUTPUT_FORMATS.review: {
      const parsed = reviewPayloadSchema.safeParse(payload);
      return { format, content: JSON.stringify(parsed.success ? generateReview(parsed.data) : UNREADABLE_REVIEW) };
    }
    default:
      return { format: 'text', content: plainReply(userText) };
  }
}

/** Knowledge of whatever text the message holds, when it holds no readable item. */
function knowledgeOf(text: string): Knowledge {
  const body = text.replace(/```[\s\S]*?(?:```|$)/g, ' ').trim() || text;
  const title = truncateAtWord(squash(splitSentences(body)[0] ?? ''), 120) || 'Untitled item';
  return generateKnowledge({ item: { id: 'unreadable', title, body } });
}

const UNREADABLE_DRAFT: Draft = draftSchema.parse({
  title: 'Draft unavailable',
  markdown: '# Draft unavailable\n\nThe item and its knowledge could not be read, so there is nothing to write about.',
  citedClaims: [],
});

const UNREADABLE_REVIEW: Review = reviewSchema.parse({
  verdict: 'reject',
  feedback: 'The draft or the extracted knowledge could not be read; send both as the JSON payload to review.',
  unsupportedClaims: [],
});

function plainReply(userText: string): string {
  const opening = truncateAtWord(squash(splitSentences(userText)[0] ?? ''), 160);
  if (opening.length === 0) return 'Hello! How can I help you today?';
  return `Here is a brief answer to your request ("${opening}"): it has been noted, and no structured output format was requested, so this reply is plain text.`;
}
