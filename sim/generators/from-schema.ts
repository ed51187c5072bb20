import { generateSync, type JsonSchema } from 'json-schema-faker';
import { stableHash } from '../hash.ts';

/**
 * Answers for structured-output formats the simulator has no generator of its own for: a value that satisfies
 * the JSON schema the caller sent in `response_format.json_schema.schema`, as a provider's structured outputs
 * guarantee. json-schema-faker does the generating; its seed comes from the request's own text, so the same
 * request gets the same answer on every run and every machine.
 */

/**
 * A value satisfying `schema`, the same one for the same `seedText`.
 * @example answerFromSchema({ type: 'object', required: ['text'], properties: { text: { type: 'string' } } }, 'item-1')
 */
export function answerFromSchema(schema: Readonly<Record<string, unknown>>, seedText: string): unknown {
  // The schema reached the simulator as JSON: it is JSON Schema as the generator takes it.
  return generateSync(schema as JsonSchema, { seed: stableHash(seedText) || 1 });
}
