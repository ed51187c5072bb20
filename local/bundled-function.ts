import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Worker } from 'node:worker_threads';
import type { Context } from 'aws-lambda';
import type { InvokeMessage, SerializedError, WorkerInit, WorkerMessage } from './bundled-function-worker.ts';
import { newLogStreamName } from './lambda-context.ts';
import type { LocalFunction } from './resources.ts';
import type { LocalEndpoints } from './runtime.ts';

/**
 * A synthesized function bundle (what `cdk deploy` uploads) run as the Lambda Node.js runtime runs it: the module the
 * template's `Handler` names is imported at init in an execution environment of its own — a worker thread with its
 * own `process.env` (the template's variables resolved to local values, plus what Lambda sets) — and each invocation
 * calls its export with the event and a Lambda context. The bundle's AWS SDK clients cannot be handed in, so the
 * standard SDK variables (`AWS_ENDPOINT_URL_<SERVICE>`, `AWS_REGION`, static credentials) point them at the local
 * services. One environment serves a function's concurrent invocations (as the in-process handlers do); one that
 * crashes is replaced by a new one (a cold start) at the next invocation. There is no X-Ray here: the bundle's
 * Powertools Tracer sees no Lambda execution environment and stays off.
 */

/** Base error of this module: a bundle that could not be loaded or whose invocation failed. */
class BundledFunctionError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BundledFunctionError';
  }
}

/** The handler threw: `errorType` is the thrown error's name, as Lambda reports it. */
export class BundledInvocationError extends BundledFunctionError {
  readonly errorType: string;

  constructor(functionName: string, error: SerializedError) {
    super(`${functionName}: ${error.name}: ${error.message}`);
    this.name = 'BundledInvocationError';
    this.errorType = error.name;
    if (error.stack !== undefined) this.stack = error.stack;
  }
}

/** The function the bundle belongs to, as the local runtime knows it. */
export type BundledFunctionIdentity = Pick<LocalFunction, 'functionName' | 'functionArn' | 'memoryMb'>;

export interface BundledFunctionOptions {
  /** The function's code asset folder (holding e.g. `index.mjs`). */
  readonly codeDir: string;
  /** The template's `Handler`, e.g. `index.handler`. */
  readonly handler: string;
  readonly function: BundledFunctionIdentity;
  /** The whole process environment of the function (see {@link lambdaEnvironment}). */
  readonly environment: Readonly<Record<string, string>>;
  /** Each line the function writes to stdout (its logs, its EMF metrics). @default console.log */
  readonly onStdout?: (line: string) => void;
  /** Each line the function writes to stderr. @default console.error */
  readonly onStderr?: (line: string) => void;
}

/**
 * The module file and export a Lambda `Handler` string names, looked up as the Node.js runtime does: the part
 * before the first dot of the last path segment is the module (`.js`, then `.mjs`, then `.cjs`), the rest the
 * export, dots walking into nested objects.
 * @throws {BundledFunctionError} when the string is malformed or no such module exists.
 * @example resolveHandler('/asset', 'index.handler') // { file: '/asset/index.mjs', exportPath: ['handler'] }
 */
export function resolveHandler(codeDir: string, handler: string): { file: string; exportPath: string[] } {
  const slash = handler.lastIndexOf('/');
  const [moduleName = '', ...exportPath] = handler.slice(slash + 1).split('.');
  if (moduleName === '' || exportPath.length === 0 || exportPath.some((key) => key === '')) {
    throw new BundledFunctionError(
      `handler "${handler}" is not of the form module.export (Runtime.MalformedHandlerName)`,
    );
  }
  const base = join(codeDir, handler.slice(0, slash + 1), moduleName);
  const file = ['.js', '.mjs', '.cjs'].map((extension) => base + extension).find((candidate) => existsSync(candidate));
  if (file === undefined) {
    throw new BundledFunctionError(`handler "${handler}": no ${base}.js, .mjs or .cjs (Runtime.ImportModuleError)`);
  }
  return { file, exportPath };
}

/**
 * The process environment of a function run locally: what Lambda sets (region, function name, memory, log group,
 * task root), static credentials and the standard SDK endpoint variables pointing each client at the local service,
 * then the template's own variables (already resolved to local names and ARNs), which win as on Lambda.
 * @example
 * const env = lambdaEnvironment(fn, local, codeDir, { POWERTOOLS_LOG_LEVEL: 'WARN' });
 */
export function lambdaEnvironment(
  fn: Pick<LocalFunction, 'functionName' | 'memoryMb' | 'environment'>,
  local: LocalEndpoints,
  codeDir: string,
  overrides: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const { endpoints } = local;
  const { credentials } = local.clientConfig('sqs');
  return {
    AWS_REGION: endpoints.region,
    AWS_DEFAULT_REGION: endpoints.region,
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_ENDPOINT_URL_DYNAMODB: endpoints.dynamodb,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoints.secretsmanager,
    AWS_ENDPOINT_URL_LAMBDA: endpoints.lambda,
    AWS_LAMBDA_FUNCTION_NAME: fn.functionName,
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${fn.functionName}`,
    LAMBDA_TASK_ROOT: codeDir,
    ...fn.environment,
    ...overrides,
  };
}

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };

interface Environment {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
  readonly ready: Promise<void>;
}

/**
 * @example
 * const fn = await BundledFunction.start({ codeDir, handler: 'index.handler', function: local, environment });
 * const response = await fn.invoke(sqsEvent, context);
 * await fn.stop();
 */
export class BundledFunction {
  readonly #options: BundledFunctionOptions;
  readonly #init: WorkerInit;
  #environment: Environment | undefined;
  #nextId = 0;
  #stopped = false;

  private constructor(options: BundledFunctionOptions) {
    this.#options = options;
    const { file, exportPath } = resolveHandler(options.codeDir, options.handler);
    this.#init = {
      file,
      exportPath,
      functionName: options.function.functionName,
      functionArn: options.function.functionArn,
      memoryMb: options.function.memoryMb,
      logStreamName: newLogStreamName(Date.now()),
    };
  }

  /**
   * Starts the function's execution environment and waits for its init (the bundle's import) to finish.
   * @throws {BundledFunctionError} when the handler cannot be found or the init throws (e.g. a bad environment).
   */
  static async start(options: BundledFunctionOptions): Promise<BundledFunction> {
    const fn = new BundledFunction(options);
    try {
      await fn.#ensureEnvironment().ready;
    } catch (error) {
      await fn.stop();
      throw error;
    }
    return fn;
  }

  /** The function as a handler, `(event, context) => Promise<response>`: what the local pollers and timers call. */
  get handler(): (event: unknown, context: Context) => Promise<unknown> {
    return (event, context) => this.invoke(event, context);
  }

  /** One invocation; rejects with {@link BundledInvocationError} when the handler throws. */
  async invoke(event: unknown, context: Context): Promise<unknown> {
    if (this.#stopped) throw new BundledFunctionError(`${this.#init.functionName} has been stopped`);
    const environment = this.#ensureEnvironment();
    await environment.ready;
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      environment.pending.set(id, { resolve, reject });
      const message: InvokeMessage = {
        type: 'invoke',
        id,
        event,
        awsRequestId: context.awsRequestId,
        remainingMs: context.getRemainingTimeInMillis(),
      };
      environment.worker.postMessage(message);
    });
  }

  /** Ends the execution environment; invocations still running fail. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const environment = this.#environment;
    this.#environment = undefined;
    await environment?.worker.terminate();
  }

  #ensureEnvironment(): Environment {
    if (this.#environment !== undefined) return this.#environment;
    const { functionName } = this.#init;
    const worker = new Worker(new URL('./bundled-function-worker.ts', import.meta.url), {
      workerData: this.#init,
      env: { ...this.#options.environment },
      stdout: true,
      stderr: true,
    });
    const onStdout = this.#options.onStdout ?? ((line: string) => console.log(line));
    const onStderr = this.#options.onStderr ?? ((line: string) => console.error(line));
    createInterface({ input: worker.stdout, crlfDelay: Infinity }).on('line', onStdout);
    createInterface({ input: worker.stderr, crlfDelay: Infinity }).on('line', onStderr);
    const pending = new Map<number, Pending>();
    let settleInit: { resolve: () => void; reject: (error: Error) => void } | undefined;
    const ready = new Promise<void>((resolve, reject) => {
      settleInit = { resolve, reject };
    });
    // Nobody may be waiting for the init when it fails (a replaced environment): that is not unhandled.
    ready.catch(() => {});
    let failure: Error | undefined;
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'ready') settleInit?.resolve();
      else if (message.type === 'initFailed') {
        failure = new BundledInvocationError(functionName, message.error);
        failure.message = `${functionName}: init failed: ${message.error.name}: ${message.error.message}`;
        settleInit?.reject(failure);
      } else {
        const waiting = pending.get(message.id);
        pending.delete(message.id);
        if (message.type === 'result') waiting?.resolve(message.value);
        else waiting?.reject(new BundledInvocationError(functionName, message.error));
      }
    });
    worker.on('error', (error) => {
      failure ??= new BundledFunctionError(`${functionName}: the execution environment crashed: ${error.message}`, {
        cause: error,
      });
    });
    worker.on('exit', (code) => {
      const error = failure ?? new BundledFunctionError(`${functionName}: the execution environment exited (${code})`);
      settleInit?.reject(error);
      for (const waiting of pending.values()) waiting.reject(error);
      pending.clear();
      if (this.#environment?.worker === worker) this.#environment = undefined;
    });
    this.#environment = { worker, pending, ready };
    return this.#environment;
  }
}
