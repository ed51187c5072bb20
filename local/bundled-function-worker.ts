import { pathToFileURL } from 'node:url';
import { parentPort, workerData } from 'node:worker_threads';
import { createLambdaContext } from './lambda-context.ts';

/**
 * One execution environment of a bundled function (see bundled-function.ts): imports the bundle as the Lambda
 * Node.js runtime does at init, with this thread's own `process.env`, then runs each invocation the parent posts
 * and posts the handler's result (or what it threw) back. Loaded by Node itself, not through the project's test
 * transform, so it imports only what Node can strip types from.
 */

/** What the parent gives the environment at start. */
export interface WorkerInit {
  /** Absolute path of the bundle module, e.g. `.../asset.1234/index.mjs`. */
  readonly file: string;
  /** The export named by the handler string, split at its dots (`index.handler` → `['handler']`). */
  readonly exportPath: readonly string[];
  readonly functionName: string;
  readonly functionArn: string;
  readonly memoryMb: number;
  readonly logStreamName: string;
}

/** An invocation, as the parent posts it. */
export interface InvokeMessage {
  readonly type: 'invoke';
  readonly id: number;
  readonly event: unknown;
  readonly awsRequestId: string;
  /** Time left at the start of the invocation, on the parent's clock: the deadline counts down from here. */
  readonly remainingMs: number;
}

/** A thrown value, as it crosses the thread boundary. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly stack?: string | undefined;
}

/** What the environment posts back. */
export type WorkerMessage =
  | { readonly type: 'ready' }
  | { readonly type: 'initFailed'; readonly error: SerializedError }
  | { readonly type: 'result'; readonly id: number; readonly value: unknown }
  | { readonly type: 'failed'; readonly id: number; readonly error: SerializedError };

function serialize(error: unknown): SerializedError {
  if (error instanceof Error) return { name: error.name, message: error.message, stack: error.stack };
  return { name: typeof error, message: String(error) };
}

const port = parentPort;
if (port === null) throw new Error('bundled-function-worker.ts runs only as a worker thread');
const init = workerData as WorkerInit;
const post = (message: WorkerMessage) => port.postMessage(message);

// NODE_OPTIONS reaches no worker thread; the one option the stack sets is applied by hand, so a bundle's stack
// traces name its sources as on Lambda (process-wide, which only makes the parent's traces better too).
if (process.env.NODE_OPTIONS?.split(/\s+/).includes('--enable-source-maps')) process.setSourceMapsEnabled(true);

let handler: (event: unknown, context: unknown) => Promise<unknown>;
try {
  let target: unknown = await import(pathToFileURL(init.file).href);
  for (const key of init.exportPath) target = (target as Record<string, unknown> | undefined)?.[key];
  if (typeof target !== 'function') {
    throw new Error(`${init.file} exports no function ${init.exportPath.join('.')} (Runtime.HandlerNotFound)`);
  }
  handler = target as typeof handler;
  post({ type: 'ready' });
} catch (error) {
  post({ type: 'initFailed', error: serialize(error) });
  // An environment whose init failed serves nothing; the parent starts a new one if asked again.
  process.exit(1);
}

port.on('message', (message: InvokeMessage) => {
  const context = createLambdaContext({
    functionName: init.functionName,
    functionArn: init.functionArn,
    memoryMb: init.memoryMb,
    deadline: Date.now() + message.remainingMs,
    awsRequestId: message.awsRequestId,
    logStreamName: init.logStreamName,
  });
  // A handler may answer synchronously; Lambda accepts both.
  Promise.resolve()
    .then(() => handler(message.event, context))
    .then(
      (value) => {
        try {
          post({ type: 'result', id: message.id, value });
        } catch (error) {
          // A response that cannot leave the environment (a function in it, say) is an invalid one, as on Lambda.
          post({ type: 'failed', id: message.id, error: serialize(error) });
        }
      },
      (error: unknown) => post({ type: 'failed', id: message.id, error: serialize(error) }),
    );
});
