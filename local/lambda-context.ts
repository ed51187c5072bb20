import { randomBytes, randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';

export interface LambdaContextOptions {
  readonly functionName: string;
  readonly functionArn: string;
  readonly memoryMb: number;
  /** Epoch milliseconds at which the invocation times out. */
  readonly deadline: number;
  /** @default Date.now */
  readonly clock?: () => number;
  /** @default a random UUID */
  readonly awsRequestId?: string;
  /** One per execution environment on Lambda. @default a new stream name */
  readonly logStreamName?: string;
}

/**
 * A Lambda `Context` for one local invocation. `getRemainingTimeInMillis()` counts down to `deadline` on
 * `clock`, reaching 0 at the deadline. The callback-era `done` / `fail` / `succeed` throw: handlers return
 * promises.
 *
 * @example
 * ```ts
 * const context = createLambdaContext({
 *   functionName: 'ExtractFn', functionArn, memoryMb: 512, deadline: Date.now() + 60_000,
 * });
 * await handler(event, context);
 * ```
 */
export function createLambdaContext(options: LambdaContextOptions): Context {
  const clock = options.clock ?? Date.now;
  const deprecated = (name: string) => (): never => {
    throw new Error(`context.${name}() is not supported locally; return a promise from the handler instead`);
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: options.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: options.functionArn,
    memoryLimitInMB: String(options.memoryMb),
    awsRequestId: options.awsRequestId ?? randomUUID(),
    logGroupName: `/aws/lambda/${options.functionName}`,
    logStreamName: options.logStreamName ?? newLogStreamName(clock()),
    getRemainingTimeInMillis: () => Math.max(0, options.deadline - clock()),
    done: deprecated('done'),
    fail: deprecated('fail'),
    succeed: deprecated('succeed'),
  };
}

/**
 * A log stream name in Lambda's format, `2026/01/31/[$LATEST]0123456789abcdef0123456789abcdef`.
 *
 * @example
 * ```ts
 * const logStreamName = newLogStreamName(Date.now()); // one per simulated execution environment
 * ```
 */
export function newLogStreamName(now: number): string {
  const day = new Date(now).toISOString().slice(0, 10).replaceAll('-', '/');
  return `${day}/[$LATEST]${randomBytes(16).toString('hex')}`;
}
