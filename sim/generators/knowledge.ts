import type { ExtractPayload } from '#shared/prompts.ts';
import { type Knowledge, knowledgeSchema } from '#shared/schemas.ts';
import { extractEntities } from './entities.ts';
import { COMMON_WORDS, detectLanguage, splitSentences, squash, truncateAtWord, words } from './text.ts';

/**
 * The "left brain" answer: structured knowledge read out of an item by rules a reader would recognise.
 * The summary is the lead, the key claims are the sentences that carry figures, names and reporting verbs,
 * the topics come from a keyword vocabulary.
 */

/** Longest summary, in characters; a lead longer than this is cut at a word. */
const MAX_SUMMARY_CHARS = 400;
/** Most key claims per item. */
const MAX_KEY_CLAIMS = 8;
/** Most topics per item. */
const MAX_TOPICS = 6;
const MAX_CLAIM_CHARS = 320;
const MIN_CLAIM_CHARS = 25;

const FACT_VERBS =
  /(?<![\p{L}\d])(?:announced?|announces|released?|releases|launched|launches|introduced|unveiled|published|reported|reports|said|says|confirmed|acquired|raised|signed|approved|opened|closed|completed|reached|increased|decreased|rose|fell|grew|dropped|cut|doubled|tripled|shipped|ships|deployed|expanded|invested|awarded|fined|voted|passed|found|measured|recorded|according to|plans to|will open|selon|según|laut|nach angaben|kostet|begonnen|übernimmt|beläuft|commencé|baissé|dépasse|prévoit|précise|instalará|tendrá|explicó|creará|kündigte|angekündigt|veröffentlicht|gestartet|eröffnet|investiert|erreicht|gestiegen|gesunken|beschlossen|vorgestellt|annoncé|lancé|publié|inauguré|atteint|augmenté|investi|adopté|présenté|anunció|lanzó|publicó|inauguró|alcanzó|aumentó|invirtió|aprobó|presentó)(?![\p{L}\d])/iu;
const HEDGES =
  /(?<![\p{L}\d])(?:i think|we think|i believe|in my view|in my opinion|perhaps|maybe|might|arguably|hopefully|probably|seems?|feel like|it remains to be seen|vielleicht|wahrscheinlich|meiner meinung|peut-être|probablement|à mon avis|quizás|tal vez|probablemente|en mi opinión)(?![\p{L}\d])/iu;

/** Topic → words that signal it (lower case, matched as whole words or phrases). */
const TOPIC_VOCABULARY: Readonly<Record<string, readonly string[]>> = {
  ai: [
    'ai',
    'artificial intelligence',
    'machine learning',
    'language model',
    'language models',
    'llm',
    'llms',
    'neural',
    'chatbot',
    'inference',
    'ki',
    'künstliche intelligenz',
    'intelligence artificielle',
    'ia',
    'inteligencia artificial',
  ],
  cloud: [
    'cloud',
    'data centre',
    'data centres',
    'data center',
    'data centers',
    'serverless',
    'kubernetes',
    'hyperscaler',
    'rechenzentrum',
    'rechenzentren',
    'nube',
    'centre de données',
    'sqs',
    'lambda',
    'dynamodb',
    'queue',
    'queues',
    'dead-letter queue',
  ],
  security: [
    'security',
    'vulnerability',
    'vulnerabilities',
    'breach',
    'ransomware',
    'attackers',
    'exploit',
    'exploited',
    'patch',
    'malware',
    'phishing',
    'encryption',
    'cve',
    'sicherheitslücke',
    'sécurité',
    'seguridad',
    'ciberataque',
  ],
  databases: [
    'database',
    'databases',
    'sql',
    'postgresql',
    'postgres',
    'query',
    'queries',
    'replication',
    'datenbank',
    'base de données',
    'base de datos',
  ],
  'open-source': [
    'open source',
    'open-source',
    'licence',
    'license',
    'maintainers',
    'contributors',
    'github',
    'fork',
    'logiciel libre',
    'código abierto',
  ],
  climate: [
    'climate',
    'emissions',
    'carbon',
    'co2',
    'warming',
    'drought',
    'heatwave',
    'flooding',
    'klima',
    'klimaschutz',
    'climat',
    'clima',
    'emisiones',
  ],
  energy: [
    'energy',
    'solar',
    'wind',
    'battery',
    'batteries',
    'grid',
    'electricity',
    'hydrogen',
    'megawatt',
    'megawatts',
    'gigawatt',
    'gigawatts',
    'renewable',
    'renewables',
    'strom',
    'energie',
    'énergie',
    'énergies',
    'energía',
    'solaire',
    'eólica',
  ],
  health: [
    'health',
    'hospital',
    'hospitals',
    'patients',
    'clinical',
    'vaccine',
    'disease',
    'medical',
    'drug',
    'doctors',
    'gesundheit',
    'klinik',
    'santé',
    'salud',
    'hôpital',
    'pacientes',
  ],
  space: [
    'space',
    'satellite',
    'satellites',
    'orbit',
    'orbital',
    'rocket',
    'lunar',
    'telescope',
    'spacecraft',
    'raumfahrt',
    'spatial',
    'espacial',
  ],
  finance: [
    'funding',
    'investors',
    'revenue',
    'shares',
    'stock',
    'profit',
    'valuation',
    'series a',
    'series b',
    'interest rate',
    'interest rates',
    'inflation',
    'bank',
    'banks',
    'loan',
    'loans',
    'finanzierung',
    'financement',
    'financiación',
  ],
  policy: [
    'regulation',
    'regulators',
    'regulator',
    'legislation',
    'law',
    'parliament',
    'ministry',
    'government',
    'commission',
    'policy',
    'compliance',
    'directive',
    'gesetz',
    'regierung',
    'loi',
    'gouvernement',
    'ley',
    'gobierno',
  ],
  programming: [
    'programming',
    'developers',
    'developer',
    'compiler',
    'rust',
    'typescript',
    'python',
    'javascript',
    'framework',
    'api',
    'apis',
    'sdk',
    'codebase',
    'code',
    'idempotent',
    'entwickler',
    'développeurs',
    'desarrolladores',
  ],
  transport: [
    'rail',
    'railway',
    'train',
    'trains',
    'tram',
    'bus',
    'buses',
    'transit',
    'electric vehicles',
    'freight',
    'airport',
    'bahn',
    'regionalbahn',
    'stellwerk',
    'stellwerke',
    'fahrgäste',
    'züge',
    'transport',
    'tren',
    'trenes',
  ],
  education: ['school', 'schools', 'students', 'teachers', 'university', 'curriculum', 'schule', 'école', 'escuela'],
  science: ['research', 'researchers', 'study', 'scientists', 'experiment', 'journal', 'physics', 'biology'],
  privacy: ['privacy', 'personal data', 'gdpr', 'tracking', 'consent', 'datenschutz', 'vie privée', 'privacidad'],
  hardware: ['chip', 'chips', 'semiconductor', 'semiconductors', 'processor', 'processors', 'gpu', 'gpus', 'hardware'],
};

const TOPIC_PATTERNS: readonly { topic: string; pattern: RegExp }[] = Object.entries(TOPIC_VOCABULARY).map(
  ([topic, keywords]) => ({
    topic,
    pattern: new RegExp(
      `(?<![\\p{L}\\d'’])(?:${keywords.map((keyword) => keyword.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})(?![\\p{L}\\d])`,
      'giu',
    ),
  }),
);

/**
 * Structured knowledge for one item; always valid against `knowledgeSchema`, whatever the text.
 * @example generateKnowledge({ item: { id: 'sample-001', title: 'Kestrel Cloud opens Lyon region', body: '...' } })
 */
export function generateKnowledge(payload: ExtractPayload): Knowledge {
  const { title, body } = payload.item;
  const text = body.trim().length > 0 ? body : title;
  const sentences = splitSentences(text).filter((sentence) => /[\p{L}\d]/u.test(sentence));
  const language = detectLanguage(`${title}\n${text}`);
  const entities = extractEntities(text, language, title);
  const fallback = truncateAtWord(squash(title), MAX_CLAIM_CHARS) || 'Untitled item';
  const claims = pickKeyClaims(
    sentences,
    entities.map((entity) => entity.name),
  );

  return knowledgeSchema.parse({
    summary: summarise(sentences) || fallback,
    keyClaims: claims.length > 0 ? claims : [fallback],
    entities,
    topics: pickTopics(`${title}\n${text}`),
    language,
  });
}

/** The lead: the first two or three sentences that fit the length budget. */
function summarise(sentences: readonly string[]): string {
  const lead: string[] = [];
  let length = 0;
  for (const sentence of sentences.slice(0, 3)) {
    if (lead.length > 0 && length + sentence.length + 1 > MAX_SUMMARY_CHARS) break;
    lead.push(sentence);
    length += sentence.length + 1;
  }
  return truncateAtWord(lead.join(' '), MAX_SUMMARY_CHARS);
}

/** The most factual sentences, in the order the item states them. */
function pickKeyClaims(sentences: readonly string[], entityNames: readonly string[]): string[] {
  const scored = sentences
    .map((sentence, position) => ({ sentence, position, score: factScore(sentence, entityNames) }))
    .filter(
      (candidate) => candidate.sentence.length >= MIN_CLAIM_CHARS && candidate.sentence.length <= MAX_CLAIM_CHARS,
    );
  const wanted = Math.min(MAX_KEY_CLAIMS, Math.max(1, Math.round(sentences.length / 2)));
  let chosen = scored
    .filter((candidate) => candidate.score >= 2)
    .sort((a, b) => b.score - a.score || a.position - b.position)
    .slice(0, wanted);
  if (chosen.length === 0) {
    const best = [...scored].sort((a, b) => b.score - a.score || a.position - b.position)[0];
    chosen = best === undefined ? [] : [best];
  }
  const claims = chosen.sort((a, b) => a.position - b.position).map((candidate) => candidate.sentence);
  if (claims.length === 0 && sentences[0] !== undefined) claims.push(truncateAtWord(sentences[0], MAX_CLAIM_CHARS));
  return claims;
}

function factScore(sentence: string, entityNames: readonly string[]): number {
  let score = 0;
  if (/\d/.test(sentence)) score += 2;
  if (
    /\d\s*(?:%|percent|per cent|prozent|pour cent|por ciento)|[$€£]\s*\d|\d\s*(?:€|euros?|dollars?)/iu.test(sentence)
  ) {
    score += 1;
  }
  if (FACT_VERBS.test(sentence)) score += 2;
  score += Math.min(3, entityNames.filter((name) => sentence.includes(name)).length);
  if (HEDGES.test(sentence)) score -= 2;
  if (sentence.trimEnd().endsWith('?')) score -= 3;
  return score;
}

/** Topics from the vocabulary, most mentioned first; frequent words when the vocabulary has nothing. */
function pickTopics(text: string): string[] {
  const counts = TOPIC_PATTERNS.map(({ topic, pattern }) => ({ topic, count: text.match(pattern)?.length ?? 0 }))
    .filter((entry) => entry.count > 0)
    .sort((a, b) => b.count - a.count);
  const strong = counts.filter((entry) => entry.count >= 2);
  const picked = (strong.length > 0 ? strong : counts.slice(0, 3)).slice(0, MAX_TOPICS).map((entry) => entry.topic);
  if (picked.length > 0) return picked;

  const frequency = new Map<string, number>();
  for (const word of words(text)) {
    if (word.length >= 5 && /^\p{L}+$/u.test(word) && !COMMON_WORDS.has(word)) {
      frequency.set(word, (frequency.get(word) ?? 0) + 1);
    }
  }
  const frequent = [...frequency.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([word]) => word);
  return frequent.length > 0 ? frequent : ['general'];
}
