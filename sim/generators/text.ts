/**
 * Small, rule-based text analysis the generators share: sentences, language, numbers and normalisation.
 * Rules, not models: the simulator must be deterministic, fast and dependency-free.
 */

/** Languages the simulator recognises; anything else is reported as English. */
export const LANGUAGES = ['en', 'de', 'fr', 'es'] as const;
export type Language = (typeof LANGUAGES)[number];

const STOPWORDS: Record<Language, ReadonlySet<string>> = {
  en: new Set(
    'the and of to is in that it with for was on are this by has have from be as at which were its their will an'.split(
      ' ',
    ),
  ),
  de: new Set(
    'der die das und ist nicht mit den von zu sich auf für ein eine dem des im wird auch sind wurde nach bei einer'.split(
      ' ',
    ),
  ),
  fr: new Set(
    'le la les et est des une un du que qui dans pour pas sur au avec ce sont aux par été cette leur'.split(' '),
  ),
  es: new Set('el la los las y es de que en un una por con para del se al como más su fue este sus ha'.split(' ')),
};

/** Words too common to be a topic or to open a name ("The Council" is the council). */
export const COMMON_WORDS: ReadonlySet<string> = new Set([
  ...Object.values(STOPWORDS).flatMap((words) => [...words]),
  ...'a an but or if so yet not no all any each every some many most more less few new old other such than then there these those this that what when where while who whom whose why how after before during since until about against between into through over under again also just only very can could would should may might must shall our we us you your he she they them his her i me my mine it its one two three four five first last next according however meanwhile still even both either neither instead because although though per via'.split(
    ' ',
  ),
  ...'ein eine einer eines einem einen er sie es wir ihr aber oder wenn weil dass als wie doch noch schon nur sehr mehr dieser diese dieses jede jeder laut seit'.split(
    ' ',
  ),
  ...'il elle ils elles nous vous on mais ou si car donc lors selon depuis cet ces chaque plus très'.split(' '),
  ...'lo le les ellos ellas nosotros pero o si porque cuando según desde esta estos estas cada muy también'.split(' '),
]);

const ABBREVIATIONS: ReadonlySet<string> = new Set(
  'mr mrs ms dr prof sr jr st inc ltd corp co vs etc e.g i.e u.s u.k u.n no nr approx dept est fig jan feb mar apr jun jul aug sep sept oct nov dec z.b bzw usw ca mme mlle sra srta vgl'.split(
    ' ',
  ),
);

/** Collapses whitespace and trims. */
export function squash(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/**
 * Splits prose into sentences: paragraphs first, then sentence punctuation followed by a capital, a digit or
 * an opening quote, unless the word before the stop is a known abbreviation or an initial.
 * @example splitSentences('Dr. Lee spoke. It rained.') // ['Dr. Lee spoke.', 'It rained.']
 */
export function splitSentences(text: string): string[] {
  const sentences: string[] = [];
  for (const paragraph of text.split(/\n\s*\n/)) {
    const flat = squash(paragraph);
    if (flat.length === 0) continue;
    let start = 0;
    for (const boundary of flat.matchAll(/([.!?…]+)["'”’»)]*\s+(?=[¿¡"'“«(]?[\p{Lu}\d])/gu)) {
      const stopAt = boundary.index + boundary[0].trimEnd().length;
      const candidate = flat.slice(start, stopAt);
      if (boundary[1] === '.' && endsWithAbbreviation(candidate)) continue;
      sentences.push(candidate.trim());
      start = boundary.index + boundary[0].length;
    }
    const rest = flat.slice(start).trim();
    if (rest.length > 0) sentences.push(rest);
  }
  return sentences;
}

function endsWithAbbreviation(candidate: string): boolean {
  const lastWord = /(\S+)\.$/.exec(candidate)?.[1];
  if (lastWord === undefined) return false;
  const word = lastWord.replace(/^[("'“«]+/, '').toLowerCase();
  return ABBREVIATIONS.has(word) || /^\p{L}$/u.test(word);
}

/**
 * Words of a text in lower case (letters, digits, inner hyphens and apostrophes).
 * @example words("Kestrel's cloud-native API") // ["kestrel's", 'cloud-native', 'api']
 */
export function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\d]+(?:[-'’][\p{L}\d]+)*/gu) ?? [];
}

/**
 * Guesses the language by counting each language's stopwords; ties and unknown text count as English.
 * @example detectLanguage('Die Stadt hat das Netz ausgebaut und die Preise gesenkt.') // 'de'
 */
export function detectLanguage(text: string): Language {
  const counts: Record<Language, number> = { en: 0, de: 0, fr: 0, es: 0 };
  for (const word of words(text)) {
    for (const language of LANGUAGES) {
      if (STOPWORDS[language].has(word)) counts[language]++;
    }
  }
  let best: Language = 'en';
  for (const language of LANGUAGES) {
    if (counts[language] > counts[best]) best = language;
  }
  return best;
}

/**
 * The figures a text mentions, normalised so "12,000", "12.000" and "12 000" compare equal.
 * @example numbersIn('Revenue rose 12.5% to $4,200 in 2024.') // ['125', '4200', '2024']
 */
export function numbersIn(text: string): string[] {
  const figures = text.match(/\d+(?:[,.\u00a0\u202f ]\d{3}(?!\d))*(?:[.,]\d+)?/g) ?? [];
  return figures.map((figure) => figure.replace(/[^\d]/g, ''));
}

/**
 * Lower case, single spaces, no Markdown emphasis and no trailing stop: for "does the draft contain this claim".
 * @example normalise('**Acme** shipped  v2.') // 'acme shipped v2'
 */
export function normalise(text: string): string {
  return squash(text.replace(/[*_`]/g, ''))
    .toLowerCase()
    .replace(/[.!?…]+$/, '');
}

/**
 * Cuts text at a word boundary so it is at most `max` characters, marking the cut with an ellipsis.
 * @example truncateAtWord('one two three', 8) // 'one two…'
 */
export function truncateAtWord(text: string, max: number): string {
  if (text.length <= max) return text;
  // A cut between the two halves of a surrogate pair would leave half an emoji, which no model writes (and SQS
  // refuses): cut before the pair instead.
  const end = /[\uD800-\uDBFF]/.test(text.charAt(max - 2)) ? max - 2 : max - 1;
  const cut = text.slice(0, end);
  const lastSpace = cut.lastIndexOf(' ');
  const head = lastSpace > max / 2 ? cut.slice(0, lastSpace) : cut;
  return `${head.replace(/[\s,;:]+$/, '')}…`;
}
