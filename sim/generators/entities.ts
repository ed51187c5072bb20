import type { Knowledge } from '#shared/schemas.ts';
import { COMMON_WORDS, type Language, splitSentences, squash } from './text.ts';

/**
 * Named-entity extraction by simple rules: runs of capitalised words (allowing "of", "de", "von", ... inside),
 * single words only when they are well known, acronyms, camel-cased or repeated, and a kind guessed from a
 * small dictionary, name suffixes ("Foundation", "GmbH") and the words around the name ("said", "in").
 */

export type Entity = Knowledge['entities'][number];
export type EntityKind = Entity['kind'];

/** At most this many entities per item, in order of first mention. */
const MAX_ENTITIES = 15;

const KNOWN = new Map<string, EntityKind>([
  ...kindOf(
    'organization',
    'OpenAI Anthropic Google Microsoft Amazon AWS Meta Apple IBM Nvidia NVIDIA Intel AMD Arm Samsung TSMC Mozilla ' +
      'GitHub GitLab CNCF NASA ESA SpaceX WHO EU UN IMF ECB OECD CERN MIT Bundestag Bundesnetzagentur',
  ),
  ['Red Hat', 'organization'],
  ['Linux Foundation', 'organization'],
  ['European Commission', 'organization'],
  ['European Union', 'organization'],
  ['European Parliament', 'organization'],
  ['Federal Reserve', 'organization'],
  ['European Central Bank', 'organization'],
  ['World Health Organization', 'organization'],
  ...kindOf(
    'technology',
    'Kubernetes Docker PostgreSQL Postgres MySQL SQLite Redis Kafka Rust Python TypeScript JavaScript WebAssembly ' +
      'Linux Node.js React GraphQL OAuth GPU GPUs LLM LLMs RISC-V 5G HTTP/3 TLS SQL Wasm',
  ),
  ...kindOf('technology', 'AI KI IA VPN SMS API APIs SDK JSON HTTP DNS CPU CPUs'),
  ...kindOf('product', 'ChatGPT Copilot Android iOS Windows Chrome Firefox DynamoDB SQS Lambda Gemini Claude iPhone'),
  ...kindOf(
    'place',
    'Europe Africa Asia America Germany France Spain Italy Netherlands Britain Ireland Portugal Austria ' +
      'Switzerland Belgium Denmark Sweden Norway Finland Poland Japan China India Brazil Canada Mexico Australia ' +
      'Berlin Munich Hamburg Frankfurt Cologne Leipzig Paris Lyon Marseille Toulouse Nantes Madrid Barcelona ' +
      'Valencia Seville Bilbao Rotterdam Amsterdam London Dublin Lisbon Vienna Zurich Geneva Brussels Copenhagen ' +
      'Stockholm Oslo Helsinki Warsaw Prague California Texas Seattle Tokyo Singapore Sydney Toronto Bavaria ' +
      'Catalonia Andalusia Alps Deutschland Frankreich Spanien München Köln España Francia Alemania Allemagne ' +
      'Espagne Bruxelles Londres Sevilla',
  ),
  ['United States', 'place'],
  ['United Kingdom', 'place'],
  ['New York', 'place'],
  ['San Francisco', 'place'],
  ['North Sea', 'place'],
  ['Baltic Sea', 'place'],
]);

function kindOf(kind: EntityKind, names: string): [string, EntityKind][] {
  return names.split(' ').map((name) => [name, kind]);
}

const ORGANIZATION_WORDS = new Set(
  (
    'Inc Corp Corporation Ltd LLC GmbH AG SA SE NV Labs Lab Foundation Agency University Institute Commission ' +
    'Council Bank Group Systems Technologies Networks Ministry Parliament Association Society Authority Fund ' +
    'Partners Capital Motors Airlines Hospital Clinic Consortium Alliance Union Company Studios Media Observatory ' +
    'Cloud Energy Health Grid Robotics Therapeutics Biotech Logistics Freight Rail Railways Aerospace Bio ' +
    'Stadtwerke Universität Université Universidad Ministerium Ministère Ministerio Banco Banque Gruppe Hospital ' +
    'Senate Court Office Department Board Collective Project Data Analytics Pay Payments Software'
  ).split(' '),
);
const ORGANIZATION_OPENERS = new Set(
  'University Bank Ministry Institute City Port Stadtwerke Universität Université Universidad Ministerium Ministère Ministerio Banco Banque Department Office'.split(
    ' ',
  ),
);
const PRODUCT_WORDS = new Set(
  'Pro Max Mini Ultra Studio OS DB SDK API Engine Platform Suite Edition Server'.split(' '),
);
const TECHNOLOGY_WORDS = new Set('Protocol Framework Language Runtime Compiler Standard Algorithm'.split(' '));
const CONNECTORS = new Set('of for & de del la le der die von van du des für zu'.split(' '));
const PLACE_WORDS = new Set(
  'City County Province Region Valley Bay Island Islands Sea River Lake Mountains Coast Peninsula Strait'.split(' '),
);
const NOT_NAMES = new Set(
  (
    'January February March April May June July August September October November December Monday Tuesday ' +
    'Wednesday Thursday Friday Saturday Sunday Januar Februar März Juni Juli Oktober Dezember Montag Dienstag ' +
    'Mittwoch Donnerstag Freitag Samstag Sonntag I A UTC GMT CET CEO CTO CFO COO Euro Euros Prozent European ' +
    'German French Spanish Dutch Danish British American Chinese Japanese Italian Portuguese Belgian Swedish ' +
    'Norwegian Roughly Nearly Almost Around Approximately Early Late Overall Together Instead Later Earlier'
  )
    .split(' ')
    .map((word) => word.toLowerCase()),
);
const FIRST_NAMES = new Set(
  (
    'Anna Maria Marie Sofia Sophie Laura Julia Elena Clara Emma Lena Sara Sarah Nina Eva Ines Lucia Carmen Ana ' +
    'Isabel Camille Chloé Léa Manon Amélie Hannah Lisa Katrin Petra Ingrid Astrid Freya Priya Aisha Mei Yuki ' +
    'Fatima Olivia Grace Alice Helen Rachel Rebecca Claire Nora Ella Mia Zoe Jane Kate Emily Jessica Amanda ' +
    'John James David Daniel Michael Thomas Peter Paul Mark Martin Lukas Jonas Felix Max Jan Tobias Stefan ' +
    'Andreas Markus Klaus Jürgen Pierre Jean Louis Lucas Hugo Julien Nicolas Antoine Carlos Javier Miguel Pablo ' +
    'Diego Alejandro Luis Jorge Marco Luca Matteo Omar Ahmed Ravi Arjun Kenji Hiroshi Wei Chen Tom Sam Ben Alex ' +
    'Chris Robert William Richard Joseph Charles George Henry Edward Oliver Jack Noah Liam Ethan Samuel Adam ' +
    'Erik Lars Nils Olaf Sven Mateo Rafael Tomás Joaquín Théo Émile Marta Lucía Paula Elif Amara Kofi Dara ' +
    'Henrik Mei Rachel Sophie Camille Jonas Lukas Priya Anna'
  ).split(' '),
);
const ROLE_BEFORE =
  /(?:CEO|CTO|CFO|chief|executive|officer|founder|co-founder|minister|professor|prof\.|dr\.|researcher|engineer|spokesperson|spokeswoman|spokesman|analyst|president|head|lead|manager|mayor|senator|economist|scientist|maintainer|author|Geschäftsführer(?:in)?|Ministerin|Minister|directrice|directeur|ministre|directora|director|ministra|portavoz)\s*,?\s*$/iu;
const SPEECH_AFTER =
  /^(?:'s?|’s?)?\s*(?:,[^,.]{1,80},\s*)?(?:said|says|told|explained|added|wrote|argued|noted|sagte|sagt|erklärte|a déclaré|a expliqué|explique|déclare|dijo|explicó|afirmó|señaló)(?![\p{L}\d])/iu;
const PLACE_BEFORE = /(?<![\p{L}\d])(?:in|near|nach|à|en)\s+$/iu;
const ORGANIZATION_AFTER =
  /^(?:['’]s?)?\s*(?:,[^,.]{1,80},\s*)?(?:has |have |had |will |also )?(?:announced|said|says|reported|raised|released|launched|introduced|signed|confirmed|published|opened|plans|moved|expects|told|kündigte|hat|a annoncé|annonce|anunció)(?![\p{L}\d])/iu;

interface Token {
  text: string;
  start: number;
  end: number;
}

interface Mention {
  name: string;
  tokens: number;
  atSentenceStart: boolean;
  before: string;
  after: string;
}

/**
 * Named entities of a text, in order of first mention, each with a guessed kind. The title, when given,
 * only adds weight to names the body also mentions.
 * @example extractEntities('Kestrel Cloud opened a region in Lyon, CEO Anna Berg said.', 'en')
 * // [{ name: 'Kestrel Cloud', kind: 'organization' }, { name: 'Lyon', kind: 'place' }, { name: 'Anna Berg', kind: 'person' }]
 */
export function extractEntities(text: string, language: Language, title = ''): Entity[] {
  const sentences = splitSentences(text);
  const lowercaseWords = new Set(text.match(/(?<![\p{L}\d])\p{Ll}[\p{L}\d]*/gu) ?? []);
  const tokenCounts = new Map<string, number>();
  for (const token of `${title} ${text}`.match(TOKEN) ?? []) tokenCounts.set(token, (tokenCounts.get(token) ?? 0) + 1);
  // German capitalises every noun; there a capitalised word counts as a name only if it recurs or is known.
  const isName =
    language === 'de'
      ? (token: string, atStart: boolean) =>
          isNameToken(token, atStart, lowercaseWords) &&
          (KNOWN.has(token) || isDistinctive(token) || (tokenCounts.get(token) ?? 0) >= 2)
      : (token: string, atStart: boolean) => isNameToken(token, atStart, lowercaseWords);

  const mentions: Mention[] = [];
  const midSentenceCounts = new Map<string, number>();
  const record = (sentence: string, run: Token[], countOnly: boolean): void => {
    const first = run[0];
    const last = run.at(-1);
    if (first === undefined || last === undefined) return;
    const name = sentence.slice(first.start, last.end).replace(/['’]s?$/u, '');
    const atSentenceStart = first.start === 0;
    if (!atSentenceStart) midSentenceCounts.set(name, (midSentenceCounts.get(name) ?? 0) + 1);
    if (countOnly) return;
    mentions.push({
      name,
      tokens: run.length,
      atSentenceStart,
      before: sentence.slice(Math.max(0, first.start - 40), first.start),
      after: sentence.slice(last.end),
    });
  };
  for (const sentence of sentences) for (const run of nameRuns(sentence, isName)) record(sentence, run, false);
  for (const run of nameRuns(squash(title), isName)) record(` ${squash(title)}`, shift(run, 1), true);

  const byName = new Map<string, Mention[]>();
  for (const mention of mentions) {
    if (mention.name.length < 2 || mention.name.length > 80) continue;
    byName.set(mention.name, [...(byName.get(mention.name) ?? []), mention]);
  }
  const multiWordFirstWords = new Set(
    [...byName.keys()].filter((name) => name.includes(' ')).map((name) => name.split(' ')[0] ?? ''),
  );

  const entities: Entity[] = [];
  for (const [name, nameMentions] of byName) {
    if (entities.length >= MAX_ENTITIES) break;
    const single = nameMentions.every((mention) => mention.tokens === 1);
    if (single && !isNotableSingleWord(name, nameMentions, midSentenceCounts, language, multiWordFirstWords)) continue;
    const kinds = nameMentions.map((mention) => guessKind(name, mention));
    entities.push({ name, kind: kinds.find((kind) => kind !== 'other') ?? 'other' });
  }
  return entities;
}

const TOKEN = /[\p{L}\d][\p{L}\d.&'’/+-]*[\p{L}\d+]|[\p{L}\d&]/gu;

function shift(run: Token[], by: number): Token[] {
  return run.map((token) => ({ ...token, start: token.start + by, end: token.end + by }));
}

/** Runs of name-like tokens in one sentence, split at punctuation, possessives and anything not a name. */
function nameRuns(sentence: string, isName: (token: string, atSentenceStart: boolean) => boolean): Token[][] {
  const runs: Token[][] = [];
  let current: Token[] = [];
  let pendingConnector: Token | undefined;
  const close = (): void => {
    if (current.length > 0) runs.push(current);
    current = [];
    pendingConnector = undefined;
  };
  let index = 0;
  // A sentence's first word that also occurs in lower case opens a name only if a name word follows it
  // ("Orbital Freight landed", but not "Engineers said").
  let tentative: Token | undefined;
  for (const match of sentence.matchAll(TOKEN)) {
    const token: Token = { text: match[0], start: match.index, end: match.index + match[0].length };
    const atSentenceStart = index++ === 0;
    const previous = pendingConnector ?? current.at(-1) ?? tentative;
    if (previous !== undefined && !/^\s+$/.test(sentence.slice(previous.end, token.start))) {
      close();
      tentative = undefined;
    }
    const bare = token.text.replace(/['’]s$/u, '');
    if (atSentenceStart && !isName(bare, true) && isName(bare, false)) {
      tentative = token;
      continue;
    }
    if (isName(bare, atSentenceStart)) {
      if (tentative !== undefined) current.push(tentative);
      tentative = undefined;
      if (pendingConnector !== undefined) current.push(pendingConnector);
      pendingConnector = undefined;
      current.push(token);
      // "Kestrel Cloud's Frankfurt region": a possessive ends the name it belongs to.
      if (/['’]s$/u.test(token.text)) close();
    } else if (current.length > 0 && pendingConnector === undefined && CONNECTORS.has(token.text)) {
      pendingConnector = token;
    } else if (/^\d+(?:\.\d+)*$/.test(token.text) && current.length > 0 && pendingConnector === undefined) {
      // A version number right after a name ("Kestrel 5", "PostgreSQL 18") belongs to it, and ends it.
      current.push(token);
      close();
    } else {
      close();
    }
    tentative = undefined;
  }
  close();
  return runs;
}

function isNameToken(text: string, atSentenceStart: boolean, lowercaseWords: ReadonlySet<string>): boolean {
  if (KNOWN.has(text)) return true;
  if (!/^\p{Lu}/u.test(text)) return false;
  const lower = text.toLowerCase();
  if (NOT_NAMES.has(lower) || COMMON_WORDS.has(lower)) return false;
  // A capital at the start of a sentence is grammar, not a name, when the word also appears in lower case.
  if (atSentenceStart && lowercaseWords.has(lower)) return false;
  return true;
}

/** Acronyms ("NASA") and inner capitals ("LumenDB", "GitHub") mark a name on their own. */
function isDistinctive(name: string): boolean {
  return /^\p{Lu}[\p{Lu}\d&-]+$/u.test(name) || /^\p{Lu}?\p{Ll}+\p{Lu}/u.test(name);
}

function isNotableSingleWord(
  name: string,
  mentions: readonly Mention[],
  midSentenceCounts: ReadonlyMap<string, number>,
  language: Language,
  multiWordFirstWords: ReadonlySet<string>,
): boolean {
  if (KNOWN.has(name) || isDistinctive(name)) return true;
  // "Meridian" after "Meridian Health" is a short form of a name already listed.
  if (multiWordFirstWords.has(name) || language === 'de') return false;
  const midSentence = midSentenceCounts.get(name) ?? 0;
  return midSentence >= 1 && mentions.length + midSentence >= 3;
}

function guessKind(name: string, context: { before: string; after: string }): EntityKind {
  const known = KNOWN.get(name);
  if (known !== undefined) return known;
  const parts = name.split(/\s+/);
  const first = parts[0] ?? name;
  const last = parts.at(-1) ?? name;
  if (ORGANIZATION_WORDS.has(last) || ORGANIZATION_OPENERS.has(first)) return 'organization';
  if (PLACE_WORDS.has(last) || KNOWN.get(last) === 'place') return 'place';
  if (parts.some((part) => /\d/.test(part)) || PRODUCT_WORDS.has(last)) return 'product';
  if (TECHNOLOGY_WORDS.has(last)) return 'technology';
  if (parts.length === 1 && /^\p{Lu}?\p{Ll}+\p{Lu}/u.test(name)) return 'product';
  const personShaped =
    parts.length >= 2 && parts.length <= 3 && parts.every((part) => /^\p{Lu}[\p{Ll}'’-]+$/u.test(part));
  if (
    personShaped &&
    (FIRST_NAMES.has(first) || ROLE_BEFORE.test(context.before) || SPEECH_AFTER.test(context.after))
  ) {
    return 'person';
  }
  if (ORGANIZATION_AFTER.test(context.after)) return 'organization';
  if (parts.length === 1 && PLACE_BEFORE.test(context.before)) return 'place';
  return 'other';
}
