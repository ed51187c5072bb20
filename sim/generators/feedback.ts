import * as z from 'zod';

/**
 * The reviewer's findings as text, and back. The reviewer writes one line per finding with the quoted
 * sentence, so a revision can act on exactly what was flagged, as a model would read its editor's notes.
 */

export interface ReviewFindings {
  /** Sentences of the draft that no key claim backs. */
  unsupportedSentences: string[];
  /** Key claims the draft leaves out. */
  missingClaims: string[];
  /** Entries of `citedClaims` that are not key claims. */
  unknownCitations: string[];
}

const LABELS = {
  unsupportedSentences: 'Unsupported sentence',
  missingClaims: 'Missing key claim',
  unknownCitations: 'Unknown citation',
} as const satisfies Record<keyof ReviewFindings, string>;

const ADVICE: Record<keyof ReviewFindings, string> = {
  unsupportedSentences: 'no key claim backs it; remove it.',
  missingClaims: 'the post leaves it out; add it and cite it.',
  unknownCitations: 'it is not one of the key claims; drop it from citedClaims.',
};

const KINDS: readonly (keyof ReviewFindings)[] = ['unsupportedSentences', 'missingClaims', 'unknownCitations'];

/** True when the reviewer found nothing to change. */
export function isClean(findings: ReviewFindings): boolean {
  return KINDS.every((kind) => findings[kind].length === 0);
}

/**
 * One line per finding, each quoting the sentence or claim it is about.
 * @example formatFeedback({ unsupportedSentences: ['Sales will double.'], missingClaims: [], unknownCitations: [] })
 * // 'Unsupported sentence: "Sales will double." — no key claim backs it; remove it.'
 */
export function formatFeedback(findings: ReviewFindings): string {
  return KINDS.flatMap((kind) =>
    findings[kind].map((text) => `${LABELS[kind]}: ${JSON.stringify(text)} — ${ADVICE[kind]}`),
  ).join('\n');
}

const quoted = z.string();

/**
 * Reads the findings back out of feedback written by `formatFeedback`; other text yields no findings.
 * @example parseFeedback('Missing key claim: "Acme raised $5m." — ...').missingClaims // ['Acme raised $5m.']
 */
export function parseFeedback(feedback: string): ReviewFindings {
  const findings: ReviewFindings = { unsupportedSentences: [], missingClaims: [], unknownCitations: [] };
  for (const kind of KINDS) {
    const pattern = new RegExp(`${LABELS[kind]}: ("(?:[^"\\\\]|\\\\.)*")`, 'g');
    for (const match of feedback.matchAll(pattern)) {
      const text = decodeQuoted(match[1] ?? '');
      if (text !== undefined && text.length > 0) findings[kind].push(text);
    }
  }
  return findings;
}

function decodeQuoted(literal: string): string | undefined {
  try {
    const parsed = quoted.safeParse(JSON.parse(literal));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
