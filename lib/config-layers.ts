import { PIPELINE } from '#functions/pipeline.ts';
import type { Pipeline } from '#shared/pipeline.ts';
import { ConfigError, configSchemaOf, describeIssues, type SluiceConfig } from './config.ts';

/**
 * The config as the operator layers it: cdk.json, then config files, then `--set key.path=value` assignments,
 * merged key by key and validated as one, each problem naming the layer that set its key.
 */

/** Settings from one place, for {@link loadLayeredConfig}. */
export interface ConfigLayer {
  /** Where they come from, as errors name it, e.g. `cdk.json`, `--config local.json`, `--set llm.timeoutSeconds=30`. */
  readonly source: string;
  readonly settings: Record<string, unknown>;
}

/**
 * Merges plain objects key by key; anything else in `patch` (a number, a string, an array) replaces what is in
 * `base`, as the CDK context does not merge.
 * @example mergeDeep({ llm: { timeoutSeconds: 60 } }, { llm: { fallbackModel: 'gpt-4o-mini' } })
 */
export function mergeDeep(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    const current = merged[key];
    merged[key] = isPlainObject(current) && isPlainObject(value) ? mergeDeep(current, value) : value;
  }
  return merged;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates `layers` merged in order, each over the ones before, as one config. Validating the merge (not each
 * layer) lets a later layer complete an earlier one (say a file raising `maxConcurrency` and a `--set` raising
 * `reservedConcurrency`); each problem names the last layer that set its key, or the key's nearest parent.
 * @throws {ConfigError} naming every wrong key, its allowed range and where it was set.
 * @example
 * loadLayeredConfig([{ source: 'cdk.json', settings: cdkJson }, { source: '--set maxAttempts=9', settings: { maxAttempts: 9 } }]);
 * // ConfigError: Invalid sluice config: maxAttempts must be less than maxReceiveCount (5) (got 9) (set by --set maxAttempts=9)
 */
export function loadLayeredConfig(layers: readonly ConfigLayer[], pipeline: Pipeline = PIPELINE): SluiceConfig {
  const merged = layers.reduce<Record<string, unknown>>((all, layer) => mergeDeep(all, layer.settings), {});
  const parsed = configSchemaOf(pipeline).safeParse(merged);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : [undefined];
    const sources = new Set(keys.map((key) => sourceOf(layers, key === undefined ? issue.path : [...issue.path, key])));
    return `${describeIssues([issue]).join('')} (set by ${[...sources].join(', ')})`;
  });
  throw new ConfigError(problems, { cause: parsed.error });
}

/** The last layer holding a value at `path`, else at its longest prefix; the first layer when none does. */
function sourceOf(layers: readonly ConfigLayer[], path: readonly PropertyKey[]): string {
  for (let length = path.length; length > 0; length -= 1) {
    const prefix = path.slice(0, length);
    const layer = layers.findLast((candidate) => valueAt(candidate.settings, prefix) !== undefined);
    if (layer !== undefined) return layer.source;
  }
  return layers[0]?.source ?? 'the defaults';
}

function valueAt(settings: unknown, path: readonly PropertyKey[]): unknown {
  let value = settings;
  for (const key of path) {
    if (!isPlainObject(value) || !Object.hasOwn(value, key)) return undefined;
    value = value[String(key)];
  }
  return value;
}

/** A key path segment: what the schema's keys are made of (model names with a dot are set at `prices` whole). */
const KEY_SEGMENT = /^[A-Za-z0-9_-]+$/;

/**
 * One `key.path=value` assignment as a settings patch. The value is read as JSON when it parses as JSON (numbers,
 * booleans, null, arrays, objects, quoted strings), and as a plain string otherwise, so `llm.baseUrl=http://...`
 * needs no quotes. Written by hand: the syntax is four lines, and a path library would accept forms (brackets,
 * quotes) the help does not promise.
 * @throws {ConfigError} when the text is not `key.path=value`.
 * @example settingAssignment('stages.extract.batchSize=2') // { stages: { extract: { batchSize: 2 } } }
 */
export function settingAssignment(text: string): Record<string, unknown> {
  const at = text.indexOf('=');
  const path = at < 0 ? [] : text.slice(0, at).split('.');
  if (at < 0 || path.some((segment) => !KEY_SEGMENT.test(segment))) {
    throw new ConfigError([
      `--set ${JSON.stringify(text)} must be key.path=value, the key's parts (letters, digits, _ and -) joined by dots, e.g. stages.extract.batchSize=2`,
    ]);
  }
  const raw = text.slice(at + 1);
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  let patch: Record<string, unknown> = {};
  for (const [index, segment] of [...path].reverse().entries()) patch = { [segment]: index === 0 ? value : patch };
  return patch;
}
