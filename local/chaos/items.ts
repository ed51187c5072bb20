import { readFile } from 'node:fs/promises';
import { type IntakeItem, intakeItemSchema } from '#shared/schemas.ts';
import { seededRandom, stableHash } from '#sim/hash.ts';

/**
 * The intake messages of a chaos run, the same for the same seed: valid items cycled from the bundled samples
 * under unique ids, poison items of every kind the extract stage must reject, and some messages sent twice,
 * all in a seeded order.
 */

export interface ChaosMessages {
  /** Message bodies in the order they are sent (duplicates included). */
  bodies: string[];
  /** Bodies of the poison items: an item accepted from one of these must be dead-lettered as invalid. */
  poisonBodies: ReadonlySet<string>;
  /** How many bodies are second copies. */
  duplicates: number;
}

const SAMPLES = new URL('../../samples/items.jsonl', import.meta.url);

/** Kinds of invalid input, cycled: each fails validation differently, two of them without a usable id. */
const POISON_KINDS = [
  (id: string) => `{"id":"${id}","title":"cut off mid-way`,
  (id: string) => JSON.stringify({ id, title: 'An item without a body' }),
  (id: string) => JSON.stringify({ id, title: 'A body too short', body: 'Too short.' }),
  (id: string) => JSON.stringify({ id, title: '   ', body: 'A body long enough to pass, but the title is blank.' }),
  (id: string) =>
    JSON.stringify({ id, title: 'An unknown key', body: 'A body long enough to pass the length check.', x: 1 }),
  (id: string) => JSON.stringify({ id: `${id} has spaces`, title: 'A bad id', body: 'A body long enough to pass.' }),
];

/**
 * @example const { bodies, poisonBodies } = await chaosMessages({ name: 'crashes', seed: 7, items: { count: 30, poison: 2, duplicates: 0.1 } });
 */
export async function chaosMessages(scenario: {
  name: string;
  seed: number;
  items: { count: number; poison: number; duplicates: number };
}): Promise<ChaosMessages> {
  const samples = await validSamples();
  const random = seededRandom(stableHash(`${scenario.seed}:items`));
  const width = String(scenario.items.count + scenario.items.poison).length;
  const id = (n: number) => `${scenario.name}-${String(n).padStart(width, '0')}`;

  const items: string[] = [];
  for (let n = 0; n < scenario.items.count; n += 1) {
    const sample = samples[Math.floor(random() * samples.length)] ?? samples[0];
    if (sample === undefined) throw new Error('samples/items.jsonl has no valid item');
    const item: IntakeItem = { ...sample, id: id(n), title: `${sample.title} (${n})` };
    items.push(JSON.stringify(item));
  }
  const poison: string[] = [];
  for (let n = 0; n < scenario.items.poison; n += 1) {
    const kind = POISON_KINDS[n % POISON_KINDS.length] ?? POISON_KINDS[0];
    if (kind) poison.push(kind(`${id(scenario.items.count + n)}-poison`));
  }

  const originals = shuffle([...items, ...poison], random);
  const twice = Math.round(originals.length * scenario.items.duplicates);
  const bodies = [...originals];
  for (const body of shuffle([...originals], random).slice(0, twice)) {
    // A second copy somewhere after the first: a producer's retry or SQS's at-least-once delivery.
    const first = bodies.indexOf(body);
    const at = first + 1 + Math.floor(random() * (bodies.length - first));
    bodies.splice(at, 0, body);
  }
  return { bodies, poisonBodies: new Set(poison), duplicates: twice };
}

async function validSamples(): Promise<IntakeItem[]> {
  const text = await readFile(SAMPLES, 'utf8');
  const valid: IntakeItem[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      continue;
    }
    const parsed = intakeItemSchema.safeParse(raw);
    if (parsed.success) valid.push(parsed.data);
  }
  return valid;
}

/** Fisher–Yates with the given random source. */
function shuffle<T>(values: T[], random: () => number): T[] {
  for (let i = values.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    const a = values[i];
    const b = values[j];
    if (a !== undefined && b !== undefined) {
      values[i] = b;
      values[j] = a;
    }
  }
  return values;
}
