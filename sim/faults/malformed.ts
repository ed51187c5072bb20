import * as z from 'zod';
import type { CallStage } from '../pipeline.ts';
import type { FaultRecorder } from '../stats.ts';
import type { ChatCompletionRequest } from '../wire.ts';

/**
 * Structured output that breaks its schema, as models sometimes produce it: a 200 whose JSON is cut off
 * mid-way, or valid JSON without a required field. Only calls that ask for JSON (`json_schema` or
 * `json_object`) are affected; the usage still bills the answer as generated.
 */

/** How an answer is broken: alternately, so exactly half of the malformed answers are of each kind. */
export type Malformation = 'truncated' | 'missing-field';

/**
 * Decides which answers to break.
 * @example const malformed = new MalformedPolicy(0.05, seededRandom(11)); if (malformed.hits()) malformed.nextKind();
 */
export class MalformedPolicy {
  #rate: number;
  readonly #random: () => number;
  #broken = 0;

  constructor(rate: number, random: () => number) {
    this.#rate = rate;
    this.#random = random;
  }

  setRate(rate = 0): void {
    this.#rate = rate;
  }

  /** One draw per call, whatever the rate, so changing the rate does not shift later decisions. */
  hits(): boolean {
    return this.#random() < this.#rate;
  }

  nextKind(): Malformation {
    return this.#broken++ % 2 === 0 ? 'truncated' : 'missing-field';
  }
}

const jsonObjectSchema = z.record(z.string(), z.unknown());
const requiredFieldsSchema = z.looseObject({ required: z.array(z.string()) });

/**
 * Breaks a JSON object answer: cut in the middle, or without its first required field (the schema's
 * `required` list, else its first key).
 * @example malform('{"verdict":"accept","feedback":""}', 'missing-field', ['verdict']) // '{"feedback":""}'
 */
export function malform(content: string, kind: Malformation, requiredFields: readonly string[] = []): string {
  const object = kind === 'missing-field' ? parseObject(content) : undefined;
  const field = object && (requiredFields.find((name) => name in object) ?? Object.keys(object)[0]);
  if (object === undefined || field === undefined) return content.slice(0, Math.floor(content.length / 2));
  const { [field]: _dropped, ...rest } = object;
  return JSON.stringify(rest);
}

/**
 * Breaks the answers the policy picks, before the handler wraps them in a completion.
 * @example composeStages([latencyStage(next), malformedStage(policy, stats)], handler)
 */
export function malformedStage(policy: MalformedPolicy, recorder: FaultRecorder): CallStage {
  return async (call, next) => {
    if (!policy.hits() || !asksForJson(call.request)) return next();
    const planned = call.answer();
    if (parseObject(planned.content) === undefined) return next();
    recorder.malformed();
    const content = malform(planned.content, policy.nextKind(), requiredFields(call.request));
    return next({ ...call, answer: () => ({ ...planned, content }) });
  };
}

function asksForJson(request: ChatCompletionRequest): boolean {
  const type = request.response_format?.type;
  return type === 'json_schema' || type === 'json_object';
}

function requiredFields(request: ChatCompletionRequest): readonly string[] {
  const format = request.response_format;
  if (format?.type !== 'json_schema') return [];
  const parsed = requiredFieldsSchema.safeParse(format.json_schema.schema);
  return parsed.success ? parsed.data.required : [];
}

function parseObject(content: string): Record<string, unknown> | undefined {
  try {
    const parsed = jsonObjectSchema.safeParse(JSON.parse(content));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
