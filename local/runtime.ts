import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { LocalCredentials } from '#lib/outputs.ts';
import { LocalEventSourceMappings } from './control-plane/event-source-mappings.ts';
import { LocalFunctions, type ServedFunction } from './control-plane/functions.ts';
import { LocalSecretsManager } from './control-plane/secrets-manager.ts';
import { startLambdaControlServer } from './control-plane/server.ts';
import { LOCAL_ACCOUNT_ID, startEmulators } from './emulators.ts';
import { SqsEventSourcePoller, type SqsFunctionHandler } from './poller.ts';
import {
  createLocalResources,
  type LocalDeployment,
  type LocalEventSource,
  type LocalFunction,
  writeOutputsFile,
} from './resources.ts';
import { parseTemplate } from './template.ts';
import { LocalTimeToLive } from './time-to-live.ts';

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
  readonly ports?: { readonly sqs?: number; readonly dynamodb?: number; readonly lambda?: number };
  /** Long-poll wait of each poller receive. @default 1 */
  readonly waitTimeSeconds?: number;
  /** Chaos runs only: see `SqsEventSourcePollerOptions.loseDeletes`. */
  readonly loseDeletes?: (messageIds: readonly string[]) => boolean;
  /** Benchmarks: told about the SQS client the event-source pollers share (e.g. to count its requests). */
  readonly instrumentPollerClient?: (client: SQSClient) => void;
}

/**
 * The local services: the two emulators, the Lambda API's event-source-mapping and function parts, and Secrets
 * Manager (on the same endpoint as the Lambda API).
 */
export type LocalService = 'sqs' | 'dynamodb' | 'lambda' | 'secretsmanager';

/** Everything an AWS SDK v3 client needs to talk to a local emulator. */
export interface LocalClientConfig {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: LocalCredentials;
}

/** Where the emulators listen, and client settings for each. */
export interface LocalEndpoints {
  readonly endpoints: {
    readonly sqs: string;
    readonly dynamodb: string;
    /**
     * The Lambda control API: Get/Update/ListEventSourceMappings and GetFunction(Configuration) for
     * `@aws-sdk/client-lambda`.
     */
    readonly lambda: string;
    /** Secrets Manager's JSON API for `@aws-sdk/client-secrets-manager`: the same server as `lambda`. */
    readonly secretsmanager: string;
    readonly region: string;
  };
  /** `new SQSClient(runtime.clientConfig('sqs'))` */
  clientConfig(service: LocalService): LocalClientConfig;
}

export interface LocalRuntime extends LocalEndpoints {
  readonly deployment: LocalDeployment;
  readonly outputs: Readonly<Record<string, string>>;
  /** One poller per event source mapping, not yet started (a disabled mapping's starts paused). */
  readonly pollers: readonly SqsEventSourcePoller[];
  /** The mappings as the local Lambda control API serves them, each backed by its poller. */
  readonly eventSourceMappings: LocalEventSourceMappings;
  /** The secrets the local Secrets Manager serves (kept under `<dataDir>/secrets` with a data directory). */
  readonly secrets: LocalSecretsManager;
  /** DynamoDB's Time to Live on the tables that enable it: swept a minute after start, then hourly. */
  readonly timeToLive: LocalTimeToLive;
  /** Starts every poller and the Time to Live sweep. */
  start(): void;
  /** Stops the pollers (waiting for in-flight invocations), then the emulators. */
  stop(): Promise<void>;
  /** Writes the outputs in the `cdk deploy --outputs-file` shape. */
  writeOutputs(file: string): Promise<void>;
}

/**
 * Runs the stack locally: starts the emulators, creates the template's queues and tables, and builds one
 * poller per SQS event source mapping, invoking the handler `handlerFor` gives for the mapped function. The
 * mappings can be disabled, enabled and reconfigured through the local Lambda control API (`endpoints.lambda`).
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
  let control: Awaited<ReturnType<typeof startLambdaControlServer>>;
  let secrets: LocalSecretsManager;
  try {
    secrets = await LocalSecretsManager.open({
      region: emulators.region,
      accountId: LOCAL_ACCOUNT_ID,
      file: options.dataDir === undefined ? undefined : join(options.dataDir, 'secrets', 'secrets.json'),
    });
    control = await startLambdaControlServer({ port: options.ports?.lambda, secrets });
  } catch (error) {
    await emulators.stop();
    throw error;
  }
  const endpointOf: Record<LocalService, string> = {
    sqs: emulators.sqsEndpoint,
    dynamodb: emulators.dynamoEndpoint,
    lambda: control.endpoint,
    secretsmanager: control.endpoint,
  };
  const local: LocalEndpoints = {
    endpoints: { ...endpointOf, region: emulators.region },
    clientConfig: (service) => ({
      endpoint: endpointOf[service],
      region: emulators.region,
      credentials: emulators.credentials,
    }),
  };
  const { clientConfig } = local;
  const sqs = new SQSClient(clientConfig('sqs'));
  options.instrumentPollerClient?.(sqs);
  const dynamodb = new DynamoDBClient(clientConfig('dynamodb'));
  let timeToLive: LocalTimeToLive | undefined;
  const shutdown = async (pollers: readonly SqsEventSourcePoller[]): Promise<void> => {
    try {
      // No change through the API once stopping has begun.
      await control.stop();
      await timeToLive?.stop();
      await Promise.all(pollers.map((poller) => poller.stop()));
      await eventSourceMappings?.flush();
      await secrets.flush();
    } finally {
      sqs.destroy();
      dynamodb.destroy();
      await emulators.stop();
    }
  };

  let deployment: LocalDeployment;
  let pollers: { poller: SqsEventSourcePoller; eventSource: LocalEventSource; function: LocalFunction }[];
  let eventSourceMappings: LocalEventSourceMappings | undefined;
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
    eventSourceMappings = await LocalEventSourceMappings.create({
      mappings: pollers,
      region: emulators.region,
      accountId: LOCAL_ACCOUNT_ID,
      stateFile:
        options.dataDir === undefined ? undefined : join(options.dataDir, 'lambda', 'event-source-mappings.json'),
    });
  } catch (error) {
    await shutdown([]);
    throw error;
  }
  control.serve(eventSourceMappings, new LocalFunctions(servedFunctions(options.template, deployment.functions)));
  const mappings = eventSourceMappings;
  const allPollers = pollers.map((built) => built.poller);
  timeToLive = new LocalTimeToLive({ dynamodb, tables: deployment.tables });
  const sweeper = timeToLive;

  let stopped: Promise<void> | undefined;
  return {
    endpoints: local.endpoints,
    deployment,
    outputs: deployment.outputs,
    pollers: allPollers,
    eventSourceMappings: mappings,
    secrets,
    timeToLive: sweeper,
    clientConfig,
    start() {
      if (stopped) {
        throw new Error('the local runtime has been stopped');
      }
      for (const poller of allPollers) {
        poller.start();
      }
      sweeper.start();
    },
    stop() {
      stopped ??= shutdown(allPollers);
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
): Promise<{ poller: SqsEventSourcePoller; eventSource: LocalEventSource; function: LocalFunction }[]> {
  const handlers = new Map<string, SqsFunctionHandler>();
  const pollers: { poller: SqsEventSourcePoller; eventSource: LocalEventSource; function: LocalFunction }[] = [];
  for (const eventSource of deployment.eventSources) {
    const fn = deployment.functions.find((candidate) => candidate.logicalId === eventSource.functionLogicalId);
    if (fn === undefined) {
      throw new Error(`event source ${eventSource.logicalId} maps unknown function ${eventSource.functionLogicalId}`);
    }
    let handler = handlers.get(fn.logicalId);
    if (handler === undefined) {
      handler = await options.handlerFor(fn, local);
      handlers.set(fn.logicalId, handler);
    }
    const poller = new SqsEventSourcePoller({
      sqs,
      queueUrl: eventSource.queueUrl,
      queueArn: eventSource.queueArn,
      region: local.endpoints.region,
      function: fn,
      handler,
      batchSize: eventSource.batchSize,
      maxConcurrency: eventSource.maxConcurrency,
      enabled: eventSource.enabled,
      reportBatchItemFailures: eventSource.reportBatchItemFailures,
      maximumBatchingWindowSeconds: eventSource.maximumBatchingWindowSeconds,
      waitTimeSeconds: options.waitTimeSeconds,
      ...(options.loseDeletes && { loseDeletes: options.loseDeletes }),
    });
    pollers.push({ poller, eventSource, function: fn });
  }
  return pollers;
}

/**
 * What `GetFunctionConfiguration` says of each function beyond the deployment: the template's `Runtime`,
 * `Handler`, `Architectures` and execution role (whose ARN is built from the role's logical id, as no IAM runs
 * here).
 */
function servedFunctions(template: object, functions: readonly LocalFunction[]): ServedFunction[] {
  const resources = (template as { Resources?: Record<string, { Properties?: Record<string, unknown> }> }).Resources;
  const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
  return functions.map((fn) => {
    const properties = resources?.[fn.logicalId]?.Properties ?? {};
    const architectures = Array.isArray(properties.Architectures)
      ? properties.Architectures.filter((value): value is string => typeof value === 'string')
      : undefined;
    const role = properties.Role;
    const roleLogicalId =
      typeof role === 'object' && role !== null && 'Fn::GetAtt' in role && Array.isArray(role['Fn::GetAtt'])
        ? text(role['Fn::GetAtt'][0])
        : undefined;
    return {
      function: fn,
      runtime: text(properties.Runtime),
      handler: text(properties.Handler),
      architectures: architectures ?? ['x86_64'],
      role:
        text(role) ??
        (roleLogicalId === undefined ? undefined : `arn:aws:iam::${LOCAL_ACCOUNT_ID}:role/${roleLogicalId}`),
    };
  });
}
