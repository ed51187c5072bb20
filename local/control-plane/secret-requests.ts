import * as z from 'zod';

/** What the local Secrets Manager accepts: its actions, each request's members checked as AWS checks them, and its error. */

/** The actions served, as `X-Amz-Target: secretsmanager.<Action>` names them. */
export const SECRETS_MANAGER_ACTIONS = [
  'CreateSecret',
  'GetSecretValue',
  'PutSecretValue',
  'DescribeSecret',
  'DeleteSecret',
  'RestoreSecret',
] as const;
export type SecretsManagerAction = (typeof SECRETS_MANAGER_ACTIONS)[number];

/** Prefix of the `X-Amz-Target` header of every Secrets Manager request. */
export const SECRETS_MANAGER_TARGET_PREFIX = 'secretsmanager.';

/** AWS's limit on a secret value (SecretString or the decoded SecretBinary). */
const MAX_SECRET_BYTES = 65_536;

/** An error answered in AWS's awsJson shape: HTTP 400 (or 500), `__type` and `message` in the body. */
export class SecretsManagerApiError extends Error {
  readonly type: string;
  readonly status: number;

  constructor(type: string, message: string, status = 400) {
    super(message);
    this.name = 'SecretsManagerApiError';
    this.type = type;
    this.status = status;
  }
}

/** Request members, checked for type (a wrong type is AWS's SerializationException). */
const secretIdSchema = z.object({ SecretId: z.string().min(1) });
const valueMembers = {
  SecretString: z.string().optional(),
  SecretBinary: z.string().optional(),
  ClientRequestToken: z.string().min(32).max(64).optional(),
};
/** Each action's request members. */
export const requestSchemas = {
  CreateSecret: z.object({
    Name: z.string(),
    Description: z.string().max(2048).optional(),
    KmsKeyId: z.string().optional(),
    Tags: z.array(z.object({ Key: z.string(), Value: z.string() })).optional(),
    AddReplicaRegions: z.array(z.unknown()).optional(),
    ForceOverwriteReplicaSecret: z.boolean().optional(),
    ...valueMembers,
  }),
  GetSecretValue: secretIdSchema.extend({ VersionId: z.string().optional(), VersionStage: z.string().optional() }),
  PutSecretValue: secretIdSchema.extend({ ...valueMembers, VersionStages: z.array(z.string()).min(1).optional() }),
  DescribeSecret: secretIdSchema,
  DeleteSecret: secretIdSchema.extend({
    RecoveryWindowInDays: z.number().int().optional(),
    ForceDeleteWithoutRecovery: z.boolean().optional(),
  }),
  RestoreSecret: secretIdSchema,
} satisfies Record<SecretsManagerAction, z.ZodType>;

/**
 * The request's members, or AWS's error: `ValidationException` for a missing member or a value out of range,
 * `SerializationException` for a value of the wrong type.
 */
export function parseRequest<S extends z.ZodType>(schema: S, request: unknown): z.infer<S> {
  const parsed = schema.safeParse(request, { reportInput: true });
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const member = issue?.path.join('.') || 'request';
  const missing = issue?.code === 'invalid_type' && issue.input === undefined;
  if (issue?.code === 'invalid_type' && !missing) {
    throw new SecretsManagerApiError('SerializationException', `${member}: ${issue.message}`);
  }
  const constraint = missing ? 'Member must not be null' : (issue?.message ?? 'invalid');
  throw new SecretsManagerApiError(
    'ValidationException',
    `1 validation error detected: Value at '${member}' failed to satisfy constraint: ${constraint}`,
  );
}

/** Whether an action is one the local Secrets Manager serves. */
export function isServedAction(action: string): action is SecretsManagerAction {
  return (SECRETS_MANAGER_ACTIONS as readonly string[]).includes(action);
}

/** The value of a create or put request, checked as AWS checks it; undefined when it has none. */
export function secretValueOf(request: {
  SecretString?: string | undefined;
  SecretBinary?: string | undefined;
}): { secretString?: string; secretBinary?: string } | undefined {
  if (request.SecretString !== undefined && request.SecretBinary !== undefined) {
    throw new SecretsManagerApiError(
      'InvalidParameterException',
      "You can't specify both a binary secret value and a string secret value in the same secret.",
    );
  }
  const size =
    request.SecretString !== undefined
      ? Buffer.byteLength(request.SecretString)
      : request.SecretBinary !== undefined
        ? Buffer.from(request.SecretBinary, 'base64').length
        : 0;
  if (size > MAX_SECRET_BYTES) {
    throw new SecretsManagerApiError(
      'InvalidParameterException',
      `The secret value exceeds ${MAX_SECRET_BYTES} bytes.`,
    );
  }
  if (request.SecretString !== undefined) return { secretString: request.SecretString };
  if (request.SecretBinary !== undefined) return { secretBinary: request.SecretBinary };
  return undefined;
}
