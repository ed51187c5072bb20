import type { DraftPayload } from '#shared/prompts.ts';
import { type Draft, draftSchema, type Knowledge } from '#shared/schemas.ts';
import { stableHash } from '../hash.ts';
import { parseFeedback } from './feedback.ts';
import { LANGUAGES, type Language, normalise, numbersIn, splitSentences, squash, truncateAtWord } from './text.ts';

/**
 * The "right brain" answer: a short Markdown post built from the extracted knowledge. Like a real model's
 * first attempt, about one first draft in three has a flaw (a claim left out, or a figure nobody stated),
 * chosen by a stable hash of the item id so the reviewer has something real to find; a revision fixes
 * exactly what the feedback names.
 */

/** Most related items the post links to. */
const MAX_RELATED_IN_POST = 5;

interface Phrases {
  facts: string;
  related: string;
  relatedIntro: string;
  lead: (subject: string) => string;
  closing: (topics: string) => string;
  and: string;
  source: string;
  thisStory: string;
  /** Speculative sentences with a figure no key claim states; `{n}` is the figure. */
  speculation: readonly string[];
  thousands: string;
}

const PHRASES: Record<Language, Phrases> = {
  en: {
    facts: 'What we know',
    related: 'Related',
    relatedIntro: 'This builds on earlier coverage:',
    lead: (subject) => `Here is what we know so far about ${subject}.`,
    closing: (topics) => `More on ${topics} as the story develops.`,
    and: 'and',
    source: 'Source',
    thisStory: 'this story',
    speculation: [
      'Industry observers expect the figure to reach {n} by the end of next year.',
      'Early estimates suggest the change will affect roughly {n} organisations within months.',
      'People familiar with the plans say a further {n} jobs could follow.',
    ],
    thousands: ',',
  },
  de: {
    facts: 'Die Fakten',
    related: 'Verwandte Beiträge',
    relatedIntro: 'Das knüpft an frühere Berichte an:',
    lead: (subject) => `Das wissen wir bisher über ${subject}.`,
    closing: (topics) => `Mehr zu ${topics}, sobald es Neues gibt.`,
    and: 'und',
    source: 'Quelle',
    thisStory: 'diese Meldung',
    speculation: [
      'Beobachter rechnen damit, dass die Zahl bis Ende nächsten Jahres auf {n} steigt.',
      'Ersten Schätzungen zufolge könnten rund {n} Betriebe betroffen sein.',
    ],
    thousands: '.',
  },
  fr: {
    facts: 'Ce que l’on sait',
    related: 'À lire aussi',
    relatedIntro: 'Cette actualité prolonge des articles précédents :',
    lead: (subject) => `Voici ce que l’on sait à ce stade sur ${subject}.`,
    closing: (topics) => `Nous suivrons l’évolution de ce dossier : ${topics}.`,
    and: 'et',
    source: 'Source',
    thisStory: 'cette actualité',
    speculation: [
      'Selon des observateurs, ce chiffre pourrait atteindre {n} d’ici la fin de l’année prochaine.',
      'Les premières estimations évoquent environ {n} entreprises concernées.',
    ],
    thousands: ' ',
  },
  es: {
    facts: 'Lo que sabemos',
    related: 'Relacionado',
    relatedIntro: 'Esta noticia continúa coberturas anteriores:',
    lead: (subject) => `Esto es lo que sabemos hasta ahora sobre ${subject}.`,
    closing: (topics) => `Seguiremos informando sobre ${topics}.`,
    and: 'y',
    source: 'Fuente',
    thisStory: 'esta noticia',
    speculation: [
      'Según algunos observadores, la cifra podría alcanzar {n} a finales del próximo año.',
      'Las primeras estimaciones hablan de unas {n} empresas afectadas.',
    ],
    thousands: '.',
  },
};

/** A deliberate weakness of a first draft, for the reviewer to catch. */
export type DraftFlaw =
  | { kind: 'omitted-claim'; claimIndex: number }
  | { kind: 'unsupported-sentence'; claimIndex: number; sentence: string };

/**
 * A draft for one item: a first draft, or, with `previousDraft` and `feedback`, a revision that fixes
 * what the feedback names. Always valid against `draftSchema`.
 * @example generateDraft({ item: { id: 'sample-001', title: 'Kestrel Cloud opens Lyon region' }, knowledge, related: [], revision: 0 })
 */
export function generateDraft(payload: DraftPayload): Draft {
  const { previousDraft, feedback } = payload;
  if (previousDraft !== undefined && feedback !== undefined && feedback.trim().length > 0) {
    return revise(payload, previousDraft, feedback);
  }
  const flaw = payload.revision === 0 && previousDraft === undefined ? plannedFlaw(payload) : undefined;
  return compose(payload, flaw);
}

/**
 * The flaw a first draft of this item will have, if any (about one item in three).
 * @example plannedFlaw({ item: { id: 'sample-003', title: 'T' }, knowledge, related: [], revision: 0 })
 */
export function plannedFlaw(payload: DraftPayload): DraftFlaw | undefined {
  const hash = stableHash(`draft-flaw:${payload.item.id}`);
  if (hash % 3 !== 0) return undefined;
  const claims = payload.knowledge.keyClaims;
  const claimIndex = (hash >>> 12) % claims.length;
  if (claims.length >= 2 && ((hash >>> 8) & 1) === 0) return { kind: 'omitted-claim', claimIndex };
  return { kind: 'unsupported-sentence', claimIndex, sentence: speculation(payload.knowledge, hash) };
}

function compose(payload: DraftPayload, flaw: DraftFlaw | undefined): Draft {
  const { knowledge, related, item } = payload;
  const phrases = phrasesFor(knowledge);
  const title = squash(item.title) || truncateAtWord(knowledge.summary, 80);
  const cited = knowledge.keyClaims.filter(
    (_, index) => !(flaw?.kind === 'omitted-claim' && flaw.claimIndex === index),
  );
  const claimParagraphs = cited.map((claim) =>
    flaw?.kind === 'unsupported-sentence' && knowledge.keyClaims[flaw.claimIndex] === claim
      ? `${claim} ${flaw.sentence}`
      : claim,
  );

  const blocks = [`# ${title}`, intro(knowledge, phrases), `## ${phrases.facts}`, ...claimParagraphs];
  const shown = related.slice(0, MAX_RELATED_IN_POST);
  if (shown.length > 0) {
    blocks.push(
      `## ${phrases.related}`,
      phrases.relatedIntro,
      shown.map((entry) => `- **${squash(entry.title)}**: ${firstSentence(entry.summary)}`).join('\n'),
    );
  }
  blocks.push(phrases.closing(listOf(knowledge.topics.slice(0, 3), phrases.and)));
  const source = sourceLine(item, phrases);
  if (source !== undefined) blocks.push(source);

  return draftSchema.parse({ title, markdown: blocks.join('\n\n'), citedClaims: cited });
}

/** Fixes what the feedback names; feedback it cannot read gets a clean redraft from the facts. */
function revise(payload: DraftPayload, previous: Draft, feedback: string): Draft {
  const findings = parseFeedback(feedback);
  const keyClaims = new Map(payload.knowledge.keyClaims.map((claim) => [normalise(claim), claim]));
  const missing = findings.missingClaims.flatMap((claim) => keyClaims.get(normalise(claim)) ?? []);
  const dropped = new Set([...findings.unknownCitations, ...findings.unsupportedSentences].map(normalise));
  if (findings.unsupportedSentences.length === 0 && missing.length === 0 && dropped.size === 0) {
    return compose(payload, undefined);
  }

  let markdown = previous.markdown;
  for (const sentence of findings.unsupportedSentences) markdown = removeSentence(markdown, sentence);
  for (const claim of missing) markdown = insertClaim(markdown, claim, payload.knowledge);
  const citedClaims = [
    ...new Set([...previous.citedClaims.filter((claim) => !dropped.has(normalise(claim))), ...missing]),
  ];
  return draftSchema.parse({ title: previous.title, markdown, citedClaims });
}

function removeSentence(markdown: string, sentence: string): string {
  return markdown
    .split('\n')
    .map((line) => (squash(line).includes(sentence) ? squash(squash(line).replace(sentence, '')) : line))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n');
}

/** Puts a missing claim right after the last paragraph that states a key claim, or before the closing. */
function insertClaim(markdown: string, claim: string, knowledge: Knowledge): string {
  const blocks = markdown.split(/\n\s*\n/);
  const claims = knowledge.keyClaims.map(normalise);
  let after = -1;
  blocks.forEach((block, index) => {
    if (claims.some((known) => normalise(block).includes(known))) after = index;
  });
  const at = after >= 0 ? after + 1 : Math.max(1, blocks.length - 1);
  blocks.splice(at, 0, claim);
  return blocks.join('\n\n');
}

/** The lead without repeating a key claim, so a claim the post leaves out does not sneak in through it. */
function intro(knowledge: Knowledge, phrases: Phrases): string {
  const claims = knowledge.keyClaims.map(normalise);
  const fresh = splitSentences(knowledge.summary).filter(
    (sentence) => !claims.some((claim) => claim.includes(normalise(sentence)) || normalise(sentence).includes(claim)),
  );
  if (fresh.length > 0) return fresh.join(' ');
  const subject = knowledge.entities[0]?.name ?? phrases.thisStory;
  return phrases.lead(subject);
}

function speculation(knowledge: Knowledge, hash: number): string {
  const phrases = phrasesFor(knowledge);
  const stated = new Set(
    numbersIn([knowledge.summary, ...knowledge.keyClaims, ...knowledge.entities.map((e) => e.name)].join(' ')),
  );
  let figure = 1200 + ((hash >>> 4) % 80) * 100;
  while (stated.has(String(figure))) figure += 100;
  const template = phrases.speculation[(hash >>> 16) % phrases.speculation.length] ?? '{n}';
  return template.replace('{n}', groupThousands(figure, phrases.thousands));
}

/** "a", "a and b", "a, b and c". */
function listOf(items: readonly string[], and: string): string {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} ${and} ${items.at(-1) ?? ''}`;
}

function groupThousands(figure: number, separator: string): string {
  return String(figure).replace(/\B(?=(\d{3})+(?!\d))/g, separator);
}

function firstSentence(text: string): string {
  return truncateAtWord(splitSentences(text)[0] ?? squash(text), 200);
}

function sourceLine(item: DraftPayload['item'], phrases: Phrases): string | undefined {
  const label = item.source !== undefined && item.source.trim().length > 0 ? squash(item.source) : undefined;
  if (item.url !== undefined) return `_${phrases.source}: [${label ?? item.url}](${item.url})_`;
  return label === undefined ? undefined : `_${phrases.source}: ${label}_`;
}

function phrasesFor(knowledge: Knowledge): Phrases {
  const language = LANGUAGES.find((candidate) => knowledge.language.toLowerCase().startsWith(candidate)) ?? 'en';
  return PHRASES[language];
}
