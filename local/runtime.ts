import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { LOCAL_ACCOUNT_ID, type LocalCredentials, startEmulators } from './emulators.ts';
import { SqsEventSourcePoller, type SqsFunctionHandler } from './poller.ts';
import { createLocalResources, type LocalDeployment, type LocalFunction, writeOutputsFile } from './resources.ts';
import { parseTemplate } from './template.ts';

export interface LocalRuntimeOptions {
  /** The synthesized CloudFormation template (parsed JSON). */
  readonly template: object;
  /** Key of the outputs file, as `cdk deploy --outputs-file` would write it. */
  readonly stackName: string;
  /** @default in-memory */
  readonly dataDir?: string;
  /** @default 'us-east-1' */
  readonly region?: string;
  /**
   * Loads the handler of a function that an event source maps to; called once per such function, with its
   * environment resolved to local values and the emulators already running (so the handler's clients can be
   * pointed at them). The runtime never imports handler code itself.
   */
  readonly handlerFor: (fn: LocalFunction, emulators: LocalEndpoints) => Promise<SqsFunctionHandler>;
  /** @default any free ports */
  readonly ports?: { readonly sqs?: number; readonly dynamodb?: number };
  /** Long-poll wait of each poller receive. @default 1 */
  readonly waitTimeSeconds?: number;
  /** Chaos runs only: see `SqsEventSourcePollerOptions.loseDeletes`. */
  readonly loseDeletes?: (messageIds: readonly string[]) => boolean;
  /** Benchmarks: told about the SQS client the event-source pollers share (e.g. to count its requests). */
  readonly instrumentPollerClient?: (client: SQSClient) => void;
}

export type LocalService = 'sqs' | 'dynamodb';

/** Everything an AWS SDK v3 client needs to talk to a local emulator. */
export interface LocalClientConfig {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: LocalCredentials;
}

/** Where the emulators listen, and client settings for each. */
export interface LocalEndpoints {
  readonly endpoints: { readonly sqs: string; readonly dynamodb: string; readonly region: string };
  /** `new SQSClient(runtime.clientConfig('sqs'))` */
  clientConfig(service: LocalService): LocalClientConfig;
}

export interface LocalRuntime extends LocalEndpoints {
  readonly deployment: LocalDeployment;
  readonly outputs: Readonly<Record<string, string>>;
  /** One poller per enabled event source mapping, not yet started. */
  readonly pollers: readonly SqsEventSourcePoller[];
  /** Starts every poller. */
  start(): void;
  /** Stops the pollers (waiting for in-flight invocations), then the emulators. */
  stop(): Promise<void>;
  /** Writes the outputs in the `cdk deploy --outputs-file` shape. */
  writeOutputs(file: string): Promise<void>;
}

/**
 * Runs the stack locally: starts the emulators, creates the template's queues and tables, and builds one
 * poller per SQS event source mapping, invoking the handler `handlerFor` gives for the mapped function.
 *
 * @example
 * ```ts
 * const runtime = await startLocalRuntime({
 *   template, stackName: 'Sluice', dataDir: '.sluice/data',
 *   handlerFor: async (fn) => (await import(`#functions/${stageOf(fn)}/handler.ts`)).handler,
 * });
 * runtime.start();
 * await runtime.writeOutputs('.sluice/outputs.json');
 * const sqs = new SQSClient(runtime.clientConfig('sqs'));
 * ```
 */
export async function startLocalRuntime(options: LocalRuntimeOptions): Promise<LocalRuntime> {
  // Parsed before anything starts, so an unsupported template fails without leaving servers behind.
  const description = parseTemplate(options.template);
  const emulators = await startEmulators({
    dataDir: options.dataDir,
    region: options.region,
    sqsPort: options.ports?.sqs,
    dynamoPort: options.ports?.dynamodb,
  });
  const local: LocalEndpoints = {
    endpoints: { sqs: emulators.sqsEndpoint, dynamodb: emulators.dynamoEndpoint, region: emulators.region },
    clientConfig: (service) => ({
      endpoint: service === 'sqs' ? emulators.sqsEndpoint : emulators.dynamoEndpoint,
      region: emulators.region,
      credentials: emulators.credentials,
    }),
  };
  const { clientConfig } = local;
  const sqs = new SQSClient(clientConfig('sqs'));
  options.instrumentPollerClient?.(sqs);
  const dynamodb = new DynamoDBClient(clientConfig('dynamodb'));
  const shutdown = async (pollers: readonly SqsEventSourcePoller[]): Promise<void> => {
    try {
      await Promise.all(pollers.map((poller) => poller.stop()));
    } finally {
      sqs.destroy();
      dynamodb.destroy();
      await emulators.stop();
    }
  };

  let deployment: LocalDeployment;
  let pollers: SqsEventSourcePoller[];
  try {
    deployment = await createLocalResources({
      description,
      stackName: options.stackName,
      sqs,
      dynamodb,
      sqsEndpoint: emulators.sqsEndpoint,
      region: emulators.region,
      accountId: LOCAL_ACCOUNT_ID,
    });
    pollers = await buildPollers(options, deployment, sqs, local);
  } catch (error) {
    await shutdown([]);
    throw error;
  }

  let stopped: Promise<void> | undefined;
  return {
    endpoints: local.endpoints,
    deployment,
    outputs: deployment.outputs,
    pollers,
    clientConfig,
    start() {
      if (stopped) {
        throw new Error('the local runtime has been stopped');
      }
      for (const poller of pollers) {
        poller.start();
      }
    },
    stop() {
      stopped ??= shutdown(pollers);
      return stopped;
    },
    writeOutputs: (file) => writeOutputsFile(file, options.stackName, deployment.outputs),
  };
}

async function buildPollers(
  options: LocalRuntimeOptions,
  deployment: LocalDeployment,
  sqs: SQSClient,
  local: LocalEndpoints,
): Promise<SqsEventSourcePoller[]> {
  const handlers = new Map<string, SqsFunctionHandler>();
  const pollers: SqsEventSourcePoller[] = [];
  for (const eventSource of deployment.eventSources) {
    if (!eventSource.enabled) {
      continue;
    }
    const fn = deployment.functions.find((candidate) => candidate.logicalId === eventSource.functionLogicalId);
    if (fn === undefined) {
      throw new Error(`event source ${eventSource.logicalId} maps unknown function ${eventSource.functionLogicalId}`);
    }
    let handler = handlers.get(fn.logicalId);
    if (handler === undefined) {
      handler = await options.handlerFor(fn, local);
      handlers.set(fn.logicalId, handler);
    }
    pollers.push(
      new SqsEventSourcePoller({
        sqs,
        queueUrl: eventSource.queueUrl,
        queueArn: eventSource.queueArn,
        region: local.endpoints.region,
        function: fn,
        handler,
        batchSize: eventSource.batchSize,
        maxConcurrency: eventSource.maxConcurrency,
        reportBatchItemFailures: eventSource.reportBatchItemFailures,
        maximumBatchingWindowSeconds: eventSource.maximumBatchingWindowSeconds,
        waitTimeSeconds: options.waitTimeSeconds,
        ...(options.loseDeletes && { loseDeletes: options.loseDeletes }),
      }),
    );
  }
  return pollers;
}
