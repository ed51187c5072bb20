import { errorText } from '#ops/target.ts';

/**
 * How the doctor tells failed requests apart: a missing resource, an access denial, an endpoint that cannot be
 * reached. The SDKs and the emulators name these differently, so each test matches the names and messages of all.
 */

/**
 * An error and its causes, outermost first.
 * @example causes(error).some((cause) => errorNamed(cause, 'ResourceNotFoundException'));
 */
export function causes(error: unknown): Error[] {
  const chain: Error[] = [];
  let current: unknown = error;
  while (current instanceof Error && !chain.includes(current)) {
    chain.push(current);
    current = current.cause;
  }
  return chain;
}

/**
 * Whether the error's name or code is `name`.
 * @example errorNamed(error, 'ResourceNotFoundException');
 */
export function errorNamed(error: unknown, name: string): boolean {
  return error instanceof Error && (error.name === name || (error as { code?: unknown }).code === name);
}

/**
 * Whether SQS answered that the queue does not exist.
 * @example if (isMissingQueue(error)) return { problem: `the queue ${url} does not exist`, fix };
 */
export function isMissingQueue(error: unknown): boolean {
  return error instanceof Error && /QueueDoesNotExist|NonExistentQueue/.test(`${error.name} ${error.message}`);
}

/**
 * Whether the request was refused for want of a permission.
 * @example if (isAccessDenied(error)) return { problem: 'the credentials may not call ...', fix };
 */
export function isAccessDenied(error: unknown): boolean {
  return (
    error instanceof Error &&
    /AccessDenied|UnauthorizedOperation|AuthorizationError|not authorized to perform/i.test(
      `${error.name} ${error.message}`,
    )
  );
}

/**
 * The action an access denial names (`... is not authorized to perform: lambda:GetFunctionConcurrency ...`).
 * @example const action = deniedAction(error) ?? 'lambda:GetAccountSettings';
 */
export function deniedAction(error: unknown): string | undefined {
  return isAccessDenied(error) ? /perform: ([\w-]+:\w+)/.exec(errorText(error))?.[1] : undefined;
}

/**
 * Whether the endpoint could not be reached at all (refused, unknown host, reset).
 * @example if (isUnreachable(error)) return { problem: `cannot reach ${endpoint}`, fix };
 */
export function isUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return (
    (typeof code === 'string' && /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|EHOSTUNREACH|ETIMEDOUT/.test(code)) ||
    (error instanceof Error && /ECONNREFUSED|ENOTFOUND|EAI_AGAIN|socket hang up/.test(error.message))
  );
}
