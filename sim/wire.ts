import type { ZodError } from 'zod';
import * as z from 'zod';

/**
 * The OpenAI chat-completions wire format as far as the simulator checks it: the request body it accepts
 * and the error bodies it answers with. Unknown request fields pass, as SDKs add new ones over time; the
 * fields the simulator reads are validated the way the provider does.
 */

const ROLES_WITH_REQUIRED_CONTENT: ReadonlySet<string> = new Set(['system', 'developer', 'user', 'tool']);

const contentPartSchema = z.looseObject({ type: z.string(), text: z.string().optional() });

const chatMessageSchema = z.looseObject({
  role: z.enum(['system', 'developer', 'user', 'assistant', 'tool', 'function']),
  content: z.union([z.string(), z.array(contentPartSchema), z.null()]).optional(),
  name: z.string().optional(),
});

const responseFormatSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text') }),
  z.strictObject({ type: z.literal('json_object') }),
  z.strictObject({
    type: z.literal('json_schema'),
    json_schema: z.strictObject({
      name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1-64 characters of letters, digits, "_" or "-"'),
      description: z.string().optional(),
      schema: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullable().optional(),
    }),
  }),
]);

export const chatCompletionRequestSchema = z
  .looseObject({
    model: z.string().min(1),
    messages: z.array(chatMessageSchema).min(1),
    response_format: responseFormatSchema.optional(),
    max_tokens: z.number().int().min(1).nullable().optional(),
    max_completion_tokens: z.number().int().min(1).nullable().optional(),
    temperature: z.number().min(0).max(2).nullable().optional(),
    top_p: z.number().min(0).max(1).nullable().optional(),
    n: z.literal(1, 'only n = 1 is supported').nullable().optional(),
    stream: z.literal(false, 'streaming is not supported').nullable().optional(),
    seed: z.number().int().nullable().optional(),
    user: z.string().optional(),
  })
  .superRefine((request, context) => {
    request.messages.forEach((message, index) => {
      if (
        ROLES_WITH_REQUIRED_CONTENT.has(message.role) &&
        (message.content === undefined || message.content === null)
      ) {
        context.addIssue({
          code: 'invalid_type',
          expected: 'string',
          path: ['messages', index, 'content'],
          message: 'Invalid input: expected string, received undefined',
        });
      }
    });
  });
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequestSchema>;

/** The provider's error body: `{ error: { message, type, param, code } }`. */
export interface OpenAiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/**
 * Builds an error body in the provider's shape.
 * @example openAiError('Invalid URL (GET /v1/nope)', 'invalid_request_error')
 */
export function openAiError(
  message: string,
  type: string,
  param: string | null = null,
  code: string | null = null,
): OpenAiErrorBody {
  return { error: { message, type, param, code } };
}

/**
 * The provider's answer to a body that breaks the schema: the first issue, named by its parameter path.
 * @example validationError(result.error) // { error: { message: "Missing required parameter: 'messages'.", ... } }
 */
export function validationError(error: ZodError): OpenAiErrorBody {
  const issue = error.issues[0];
  if (issue === undefined) return openAiError('Invalid request body.', 'invalid_request_error');
  const param = formatParam(issue.path);
  if (issue.code === 'invalid_type' && issue.message.endsWith('received undefined')) {
    return openAiError(
      `Missing required parameter: '${param}'.`,
      'invalid_request_error',
      param,
      'missing_required_parameter',
    );
  }
  return openAiError(`Invalid '${param}': ${issue.message}.`, 'invalid_request_error', param, 'invalid_value');
}

/** `['messages', 0, 'role']` → `messages[0].role`, as the provider names parameters. */
function formatParam(path: readonly PropertyKey[]): string {
  return path.reduce<string>((name, segment) => {
    if (typeof segment === 'number') return `${name}[${segment}]`;
    return name.length === 0 ? String(segment) : `${name}.${String(segment)}`;
  }, '');
}
