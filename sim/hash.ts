/**
 * Stable hashing and seeded pseudo-random numbers. The simulator must answer the same input the same way
 * on every run and every machine, so nothing here depends on `Math.random` or the process.
 */

/**
 * 32-bit FNV-1a hash of a string's UTF-16 code units.
 * @example stableHash('sample-001') // same number on every run
 */
export function stableHash(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * A seeded generator of numbers in [0, 1) (mulberry32): small, fast and good enough for jitter.
 * @example const next = seededRandom(42); next(); next();
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * A deterministic identifier in the style of the provider's (`chatcmpl-…`, `req_…`).
 * @example stableId('chatcmpl-', 'seed:1:call:7', 29)
 */
export function stableId(prefix: string, key: string, length: number): string {
  const next = seededRandom(stableHash(key));
  let id = prefix;
  for (let index = 0; index < length; index++) {
    id += ID_ALPHABET[Math.floor(next() * ID_ALPHABET.length)] ?? 'x';
  }
  return id;
}
