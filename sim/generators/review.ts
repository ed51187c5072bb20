import type { ReviewPayload } from '#shared/prompts.ts';
import { type Draft, type Knowledge, type Review, reviewSchema } from '#shared/schemas.ts';
import { formatFeedback, isClean, type ReviewFindings } from './feedback.ts';
import { normalise, numbersIn, splitSentences } from './text.ts';

/**
 * The critic: checks a draft against the extracted facts the way a fact-checking editor would. Every key
 * claim must appear in the post, every citation must be a key claim, and every figure in the prose must be
 * one the facts state. From revision 2 on the draft is accepted whatever remains, so revisions converge.
 */

/** From this revision on every draft is accepted; notes that remain go into the feedback. */
export const ALWAYS_ACCEPT_FROM_REVISION = 2;
const MAX_FINDINGS_PER_KIND = 5;

/**
 * The verdict on a draft; always valid against `reviewSchema`.
 * @example generateReview({ knowledge, draft, revision: 0 }).verdict // 'accept' | 'reject'
 */
export function generateReview(payload: ReviewPayload): Review {
  const { knowledge, draft, revision } = payload;
  const findings = findIssues(knowledge, draft);
  if (isClean(findings)) {
    const count = knowledge.keyClaims.length;
    return reviewSchema.parse({
      verdict: 'accept',
      feedback: `The draft covers ${count === 1 ? 'the key claim' : `all ${count} key claims`} and every figure in it is backed by the extracted facts.`,
      unsupportedClaims: [],
    });
  }
  if (revision >= ALWAYS_ACCEPT_FROM_REVISION) {
    return reviewSchema.parse({
      verdict: 'accept',
      feedback: `Accepted at revision ${revision}. Remaining notes for a later edit:\n${formatFeedback(findings)}`,
      unsupportedClaims: [],
    });
  }
  return reviewSchema.parse({
    verdict: 'reject',
    feedback: formatFeedback(findings),
    unsupportedClaims: [...findings.unsupportedSentences, ...findings.unknownCitations].slice(0, 20),
  });
}

/**
 * What an editor would flag in a draft, checked against the facts.
 * @example findIssues(knowledge, draft).missingClaims
 */
function findIssues(knowledge: Knowledge, draft: Draft): ReviewFindings {
  const claims = knowledge.keyClaims.map(normalise);
  const text = normalise(draft.markdown);
  const backing = [normalise(knowledge.summary), ...claims];
  const statedFigures = new Set(
    numbersIn(
      [knowledge.summary, ...knowledge.keyClaims, ...knowledge.entities.map((e) => e.name), draft.title].join(' '),
    ),
  );

  const missingClaims = knowledge.keyClaims.filter((_, index) => !text.includes(claims[index] ?? ''));
  const unknownCitations = draft.citedClaims.filter((claim) => !claims.includes(normalise(claim)));
  const unsupportedSentences = proseSentences(draft.markdown).filter((sentence) => {
    const normalised = normalise(sentence);
    if (backing.some((source) => source.includes(normalised))) return false;
    return numbersIn(sentence).some((figure) => !statedFigures.has(figure));
  });

  return {
    unsupportedSentences: unsupportedSentences.slice(0, MAX_FINDINGS_PER_KIND),
    missingClaims: missingClaims.slice(0, MAX_FINDINGS_PER_KIND),
    unknownCitations: unknownCitations.slice(0, MAX_FINDINGS_PER_KIND),
  };
}

/** Sentences of the post's prose: headings, lists, quotes and the italic source line are not claims. */
function proseSentences(markdown: string): string[] {
  return markdown
    .split(/\n\s*\n/)
    .filter((block) => !/^\s*(?:[#>*_|-]|\d+\.\s)/.test(block))
    .flatMap((block) => splitSentences(block.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')));
}
