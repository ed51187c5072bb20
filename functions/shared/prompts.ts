import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import type { Draft, IntakeItem, Knowledge } from './schemas.ts';

/**
 * Prompts for the three LLM steps. Each user message ends with one fenced JSON block holding the
 * step's input, so any model (and the simulator) sees the same structured payload.
 */

/** A past item found in the memory store, offered to the drafter as context. */
export interface RelatedItem {
  itemId: string;
  title: string;
  summary: string;
}

export interface ExtractPayload {
  item: IntakeItem;
}

export interface DraftPayload {
  item: { id: string; title: string; url?: string | undefined; source?: string | undefined };
  knowledge: Knowledge;
  related: RelatedItem[];
  revision: number;
  previousDraft?: Draft | undefined;
  feedback?: string | undefined;
}

export interface ReviewPayload {
  knowledge: Knowledge;
  draft: Draft;
  revision: number;
}

const fence = (payload: unknown): string => `\`\`\`json\n${JSON.stringify(payload, null, 2)}\n\`\`\``;

/** @example extractMessages({ item }) */
export function extractMessages(payload: ExtractPayload): ChatCompletionMessageParam[] {
  return [
    {
      role: 'system',
      content:
        'You turn one article into structured knowledge. Summarise it faithfully in 2-3 sentences, list the ' +
        'key factual claims it makes (verbatim facts, no opinions of your own), the named entities with their ' +
        'kind, 1-8 short lowercase topics, and the ISO 639-1 language code. Answer with JSON only.',
    },
    { role: 'user', content: `Extract knowledge from this item:\n${fence(payload)}` },
  ];
}

/** @example draftMessages({ item, knowledge, related: [], revision: 0 }) */
export function draftMessages(payload: DraftPayload): ChatCompletionMessageParam[] {
  const revising = payload.previousDraft !== undefined;
  return [
    {
      role: 'system',
      content:
        'You write a short blog post in Markdown from extracted knowledge. Use only the facts given; cite the ' +
        'key claims you rely on in citedClaims. Where related past items are given, connect the post to them. ' +
        (revising ? 'Revise the previous draft so that it answers every point of the reviewer feedback. ' : '') +
        'Answer with JSON only.',
    },
    { role: 'user', content: `${revising ? 'Revise the draft' : 'Write a draft'} for:\n${fence(payload)}` },
  ];
}

/** @example reviewMessages({ knowledge, draft, revision: 0 }) */
export function reviewMessages(payload: ReviewPayload): ChatCompletionMessageParam[] {
  return [
    {
      role: 'system',
      content:
        'You are a strict fact-checking editor. Check the draft against the extracted knowledge: every claim in ' +
        'the draft must be supported by a key claim. Reject drafts with unsupported claims, missing key claims or ' +
        'a misleading title, and say precisely what to change. Answer with JSON only.',
    },
    { role: 'user', content: `Review this draft:\n${fence(payload)}` },
  ];
}

/**
 * Reads the JSON payload back out of a user message built above.
 * @example readPayload<ReviewPayload>(messages.at(-1)?.content)
 */
export function readPayload(content: unknown): unknown {
  if (typeof content !== 'string') return undefined;
  const match = /```json\n([\s\S]*)\n```\s*$/.exec(content);
  if (!match?.[1]) return undefined;
  try {
    return JSON.parse(match[1]);
  } catch {
    return undefined;
  }
}

export type { Draft };
