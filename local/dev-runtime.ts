import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { PIPELINE } from '#functions/pipeline.ts';
import type { LookReport } from '#functions/supervisor/supervisor.ts';
import { configuredModels, loadConfig, type SluiceConfig } from '#lib/config.ts';
import { mergeDeep } from '#lib/config-layers.ts';
import { LOCAL_OUTPUT_KEYS } from '#lib/outputs.ts';
import { PROJECT_ROOT } from '#lib/sluice-stack.ts';
import { type BundledStack, STACK_NAME, synthesizeBundledStack, synthesizeTemplate } from '#lib/template.ts';
import type { CrashInjector } from '#shared/faults.ts';
import { type LlmClient, type LlmProber, OpenAiLlmClient } from '#shared/llm-client.ts';
import type { MemoryStore } from '#shared/memory-store.ts';
import { type Pipeline, type StageDefinition, stageOf } from '#shared/pipeline.ts';
import { STAGE_ENVIRONMENT_KEYS, type Stage, stageSchema } from '#shared/runtime-config.ts';
import { runtimeFromEnvironment, type StageRuntime } from '#shared/stage-runtime.ts';
import type { EmfSink } from '#shared/telemetry.ts';
import { type LlmSimulator, type LlmSimulatorOptions, startLlmSimulator } from '#sim/server.ts';
import { BundledFunction, lambdaEnvironment } from './bundled-function.ts';
import { LOCAL_ACCOUNT_ID } from './emulators.ts';
import type { SqsFunctionHandler } from './poller.ts';
import type { LocalFunction } from './resources.ts';
import { type LocalEndpoints, type LocalRuntime, startLocalRuntime } from './runtime.ts';
import { LocalSupervisor } from './supervisor-timer.ts';
import { parseTemplate } from './template.ts';

/**
 * The composition root of `sluice dev`: the config from cdk.json, the stack's template synthesized from it,
 * the emulators and resources that template describes, the LLM simulator (unless a real provider is given),
 * and the real stage handlers behind event-source pollers.
 */

/**
 * The outputs file's content for a running local stack: the stack's outputs, as `cdk deploy --outputs-file`
 * writes them, plus the local endpoints, so the `sluice` commands (and any SDK client) can reach it.
 * @example await writeFile(file, JSON.stringify({ [STACK_NAME]: localOutputs(dev) }, null, 2));
 */
export function localOutputs(dev: Pick<DevRuntime, 'outputs' | 'local'>): Record<string, string> {
  const { endpoints } = dev.local;
  return {
    ...dev.outputs,
    [LOCAL_OUTPUT_KEYS.sqsEndpoint]: endpoints.sqs,
    [LOCAL_OUTPUT_KEYS.dynamoDbEndpoint]: endpoints.dynamodb,
    [LOCAL_OUTPUT_KEYS.lambdaEndpoint]: endpoints.lambda,
    [LOCAL_OUTPUT_KEYS.secretsManagerEndpoint]: endpoints.secretsmanager,
    [LOCAL_OUTPUT_KEYS.region]: endpoints.region,
  };
}

/** Where `bundles` synthesizes: inside the project, so the bundles' `@aws-sdk/*` imports find its node_modules. */
const BUNDLES_DIR = join(PROJECT_ROOT, '.sluice', 'bundles');

/** Options that reach into the stage functions' process, which a bundle run in its own environment cannot take. */
const SOURCES_ONLY_OPTIONS = [
  'llm',
  'faults',
  'decorate',
  'sdkRetries',
  'instrument',
  'prober',
  'wrapSupervisorMemory',
] as const;

/**
 * Where each local endpoint listens, from a port base N: SQS on N, DynamoDB on N+1, the Lambda control API and
 * Secrets Manager on N+2, the LLM simulator on N+3. Fixed ports keep the queue URLs (which hold the SQS port) the
 * same across restarts.
 */
const PORT_OFFSETS = { sqs: 0, dynamodb: 1, lambda: 2, simulator: 3 } as const;

/** How many ports from the base a dev runtime may take. */
export const PORTS_TAKEN = Object.keys(PORT_OFFSETS).length;

const PORT_USERS: Readonly<Record<keyof typeof PORT_OFFSETS, string>> = {
  sqs: 'SQS',
  dynamodb: 'DynamoDB',
  lambda: 'the Lambda and Secrets Manager API',
  simulator: 'the LLM simulator',
};

/** A port of the port base is taken by another process. */
export class PortInUseError extends Error {
  readonly port: number;

  constructor(port: number, user: string, portBase: number, options?: { cause?: unknown }) {
    super(
      `port ${port} (${user}, port base + ${port - portBase}) is taken by another process: ` +
        "stop it (another 'sluice dev'?) or choose another port base",
      options,
    );
    this.name = 'PortInUseError';
    this.port = port;
  }
}

export interface DevRuntimeOptions {
  /** Persist queues and tables here; in memory when absent. */
  dataDir?: string;
  /**
   * Listen on fixed ports from this base (see {@link PORT_OFFSETS}) instead of any free ports.
   * @throws {PortInUseError} from {@link startDevRuntime} when one of them is taken.
   * @default any free ports
   */
  portBase?: number;
  /**
   * Run the stage functions from the bundles a synth with bundling builds (what `cdk deploy` uploads), each in an
   * execution environment of its own (see local/bundled-function.ts), instead of from the TypeScript sources.
   * The supervisor's bundle is invoked on its schedule (the template's rule) in the same way. Excludes the options
   * that reach into the functions' process: `llm`, `faults`, `decorate`, `sdkRetries`, `instrument`, `prober`,
   * `wrapSupervisorMemory`.
   * @default false
   */
  bundles?: boolean;
  /**
   * The stages to deploy and run; `config` holds settings for these.
   * @default the pipeline sluice ships (functions/pipeline.ts)
   */
  pipeline?: Pipeline;
  /** Settings merged over cdk.json's `sluice` context (e.g. shorter timeouts in tests). */
  config?: Record<string, unknown>;
  /** A real OpenAI-compatible provider; the simulator is started when absent. */
  provider?: { baseUrl?: string | undefined; apiKey: string };
  simulator?: LlmSimulatorOptions;
  /** Replaces the LLM client of both stages (tests that count or break calls). */
  llm?: LlmClient;
  /** Log level of the stage functions' loggers. */
  logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  /** Told about each stage handler as it is built (tests invoke handlers directly through this). */
  onHandler?: (stage: Stage, handler: SqsFunctionHandler) => void;
  /** Chaos runs: crash the stages at chosen points. */
  faults?: CrashInjector;
  /** Chaos runs: replace parts of each stage's runtime (e.g. a memory store that fails on cue). */
  decorate?: (runtime: StageRuntime) => StageRuntime;
  /** Chaos runs: lose the deletes of some finished invocations. */
  loseDeletes?: (messageIds: readonly string[]) => boolean;
  /** Where the functions' EMF metric lines go (stdout, as on Lambda, by default). */
  emf?: EmfSink;
  /**
   * Benchmarks: told about every AWS SDK client the functions and the event sources use, and whose it is,
   * before first use (e.g. to count requests with a middleware).
   */
  instrument?: (client: SQSClient | DynamoDBClient, owner: Stage | 'eventSource') => void;
  /** Benchmarks' naive baseline: the openai SDK's own retries (0, the stages' default, leaves them to the stage). */
  sdkRetries?: number;
  /**
   * Whether `start()` also starts the supervisor's timer (every `supervisor.intervalSeconds`).
   * @default config.supervisor.enabled
   */
  supervise?: boolean;
  /** Replaces the supervisor's probe client (tests that count or break probes). */
  prober?: LlmProber;
  /** Told about every look of the supervisor (chaos runs check what it did). */
  onSupervisorLook?: (report: LookReport) => void;
  /** Chaos runs: wrap the supervisor's memory store as `decorate` wraps the stages'. */
  wrapSupervisorMemory?: (memory: MemoryStore) => MemoryStore;
}

export interface DevRuntime {
  config: SluiceConfig;
  /** The stages it runs. */
  pipeline: Pipeline;
  outputs: Readonly<Record<string, string>>;
  local: LocalRuntime;
  simulator: LlmSimulator | undefined;
  /** SDK clients pointed at the emulators, for callers that drop items or read results. */
  sqs: SQSClient;
  dynamo: DynamoDBDocumentClient;
  /** The supervisor, on a timer once started (unless `supervise` is false); its looks can be taken by hand too. */
  supervisor: LocalSupervisor;
  /** Starts the event-source pollers (the functions begin to consume their queues) and the supervisor's timer. */
  start(): void;
  /**
   * Stops the pollers and the supervisor's timer and waits for the invocations in flight to finish (their metrics
   * written, their messages deleted or left for redelivery), leaving the emulators up: what a run did can then be
   * read without racing the functions. `stop()` still has to be called.
   */
  halt(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * @example
 * const dev = await startDevRuntime({ config: { stages: { extract: { timeoutSeconds: 30 } } } });
 * dev.start();
 */
export async function startDevRuntime(options: DevRuntimeOptions = {}): Promise<DevRuntime> {
  try {
    return await startServices(options);
  } catch (error) {
    const { portBase } = options;
    const port = (error as { code?: unknown; port?: unknown }).port;
    if (portBase === undefined || (error as { code?: unknown }).code !== 'EADDRINUSE' || typeof port !== 'number') {
      throw error;
    }
    const services = Object.keys(PORT_OFFSETS) as (keyof typeof PORT_OFFSETS)[];
    const user = services.find((service) => portBase + PORT_OFFSETS[service] === port);
    throw new PortInUseError(port, user === undefined ? 'a local endpoint' : PORT_USERS[user], portBase, {
      cause: error,
    });
  }
}

async function startServices(options: DevRuntimeOptions): Promise<DevRuntime> {
  const portOf = (service: keyof typeof PORT_OFFSETS) =>
    options.portBase === undefined ? undefined : options.portBase + PORT_OFFSETS[service];
  if (options.bundles) {
    const given = SOURCES_ONLY_OPTIONS.filter((name) => options[name] !== undefined);
    if (given.length > 0) {
      throw new Error(`bundles run in their own execution environments: ${given.join(', ')} apply to the sources only`);
    }
  }
  const settings = mergeDeep(await cdkJsonConfig(), options.config ?? {});
  const pipeline = options.pipeline ?? PIPELINE;
  const configured = loadConfig(settings, pipeline);
  // The simulator serves every model the config names, so a model changed in cdk.json works locally too.
  const models = configuredModels(configured);
  const simulator = options.provider
    ? undefined
    : await startLlmSimulator({
        ...options.simulator,
        ...(portOf('simulator') !== undefined && { port: portOf('simulator') }),
        models: [...new Set([...models, ...Object.keys(configured.prices)])],
      });
  let bundled: BundledStack | undefined;
  const bundledFunctions: BundledFunction[] = [];
  try {
    const baseUrl = options.provider ? options.provider.baseUrl : simulator?.url;
    const apiKey = options.provider?.apiKey ?? 'sluice-local-simulator';
    const context = mergeDeep(settings, baseUrl ? { llm: { baseUrl } } : {});
    const config = loadConfig(context, pipeline);
    bundled = options.bundles ? synthesizeBundledStack({ sluice: context }, BUNDLES_DIR, pipeline) : undefined;
    const template = bundled?.template ?? synthesizeTemplate({ sluice: context }, pipeline);
    const local = await startLocalRuntime({
      template,
      stackName: STACK_NAME,
      dataDir: options.dataDir,
      ports: { sqs: portOf('sqs'), dynamodb: portOf('dynamodb'), lambda: portOf('lambda') },
      ...(options.loseDeletes && { loseDeletes: options.loseDeletes }),
      ...(options.instrument && { instrumentPollerClient: (client) => options.instrument?.(client, 'eventSource') }),
      handlerFor: async (fn, local) => {
        const stage = stageOfFunction(fn.environment);
        if (bundled !== undefined) {
          const bundle = await startBundle(bundled, fn, local, options);
          bundledFunctions.push(bundle);
          options.onHandler?.(stage, bundle.handler);
          return bundle.handler;
        }
        const sqs = new SQSClient(local.clientConfig('sqs'));
        const dynamoDb = new DynamoDBClient(local.clientConfig('dynamodb'));
        options.instrument?.(sqs, stage);
        options.instrument?.(dynamoDb, stage);
        const clients = {
          sqs,
          dynamo: DynamoDBDocumentClient.from(dynamoDb, { marshallOptions: { removeUndefinedValues: true } }),
        };
        const built = runtimeFromEnvironment(fn.environment, {
          ...clients,
          ...(options.llm ? { llm: options.llm } : {}),
          ...(options.faults ? { faults: options.faults } : {}),
          ...(options.emf ? { emf: options.emf } : {}),
          ...(options.sdkRetries !== undefined && { sdkRetries: options.sdkRetries }),
          // The key is read from the stack's secret in the local Secrets Manager, as on AWS (seeded below).
          secrets: new SecretsManagerClient(local.clientConfig('secretsmanager')),
          logger: new Logger({ serviceName: 'sluice', logLevel: options.logLevel ?? 'WARN' }),
        });
        const runtime = options.decorate ? options.decorate(built) : built;
        runtime.logger.appendPersistentKeys({ stage: runtime.config.stage });
        const handler = (await stageHandlerFactory(stageOf(pipeline, runtime.config.stage)))(runtime);
        options.onHandler?.(runtime.config.stage, handler);
        return handler;
      },
    });
    // The stack's API key secret holds the key, as an operator's put-secret-value leaves it on AWS.
    const apiKeySecretArn = local.outputs.ApiKeySecretArn;
    const stopFunctions = async () => {
      await local.stop();
      await Promise.all(bundledFunctions.map((fn) => fn.stop()));
    };
    let scheduled: Awaited<ReturnType<typeof startScheduledBundle>>;
    try {
      if (apiKeySecretArn !== undefined) await local.secrets.seed(apiKeySecretArn, apiKey);
      scheduled = bundled === undefined ? undefined : await startScheduledBundle(bundled, local, options);
      if (scheduled !== undefined) bundledFunctions.push(scheduled.bundle);
    } catch (error) {
      await stopFunctions();
      throw error;
    }
    const sqs = new SQSClient(local.clientConfig('sqs'));
    const dynamo = DynamoDBDocumentClient.from(new DynamoDBClient(local.clientConfig('dynamodb')), {
      marshallOptions: { removeUndefinedValues: true },
    });
    const supervisor =
      scheduled?.supervisor ??
      new LocalSupervisor({
        config,
        pipeline,
        outputs: local.outputs,
        dynamo,
        sqs,
        lambda: new LambdaClient(local.clientConfig('lambda')),
        prober: options.prober ?? new OpenAiLlmClient({ apiKey: async () => apiKey, baseUrl }),
        logger: new Logger({ serviceName: 'sluice', logLevel: options.logLevel ?? 'WARN' }),
        emf: options.emf,
        onLook: options.onSupervisorLook,
        wrapMemory: options.wrapSupervisorMemory,
      });
    return {
      config,
      pipeline,
      outputs: local.outputs,
      local,
      simulator,
      sqs,
      dynamo,
      supervisor,
      start: () => {
        local.start();
        if (options.supervise ?? config.supervisor.enabled) supervisor.start();
      },
      halt: async () => {
        await supervisor.stop();
        await Promise.all(local.pollers.map((poller) => poller.stop()));
      },
      stop: async () => {
        await supervisor.stop();
        await stopFunctions();
        await simulator?.stop();
        sqs.destroy();
        dynamo.destroy();
        if (bundled !== undefined) await rm(bundled.outdir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all(bundledFunctions.map((fn) => fn.stop()));
    await simulator?.stop();
    if (bundled !== undefined) await rm(bundled.outdir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * The supervisor's bundle, when the template schedules a function (a rule with a `rate(...)` expression targeting
 * it): started like the stages' and invoked on that rate by the local supervisor's timer.
 */
async function startScheduledBundle(
  bundled: BundledStack,
  local: LocalRuntime,
  options: DevRuntimeOptions,
): Promise<{ bundle: BundledFunction; supervisor: LocalSupervisor } | undefined> {
  for (const rule of parseTemplate(bundled.template).rules) {
    const scheduleMs = rule.scheduleExpression === undefined ? undefined : rateMs(rule.scheduleExpression);
    const fn = local.deployment.functions.find((candidate) =>
      rule.targetFunctionLogicalIds.includes(candidate.logicalId),
    );
    if (scheduleMs === undefined || fn === undefined) continue;
    const bundle = await startBundle(bundled, fn, local, options);
    const { region } = local.endpoints;
    const supervisor = LocalSupervisor.bundled({
      invoke: bundle.handler,
      function: fn,
      ruleArn: `arn:aws:events:${region}:${LOCAL_ACCOUNT_ID}:rule/${rule.logicalId}`,
      region,
      accountId: LOCAL_ACCOUNT_ID,
      scheduleMs,
      logger: new Logger({ serviceName: 'sluice', logLevel: options.logLevel ?? 'WARN' }),
      onLook: options.onSupervisorLook,
    });
    return { bundle, supervisor };
  }
  return undefined;
}

/** Milliseconds of an EventBridge `rate(...)` expression; undefined for a cron expression. */
function rateMs(expression: string): number | undefined {
  const match = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (match === null) return undefined;
  const units: Readonly<Record<string, number>> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };
  const unit = units[match[2]?.replace(/s$/, '') ?? ''];
  return unit === undefined ? undefined : Number(match[1]) * unit;
}

/**
 * Starts a function's bundle in its own execution environment: the template's variables resolved to local values,
 * the SDK endpoint variables pointing it at the local services, and the log level asked for. Its EMF lines go to
 * `options.emf` when given, as the in-process functions' do; everything else it writes goes to the console.
 */
async function startBundle(
  bundled: BundledStack,
  fn: LocalFunction,
  local: LocalEndpoints,
  options: DevRuntimeOptions,
): Promise<BundledFunction> {
  const codeDir = bundled.functionCode[fn.logicalId];
  const resources = z
    .record(z.string(), z.object({ Properties: z.object({ Handler: z.string().optional() }).optional() }))
    .parse(bundled.template.Resources ?? {});
  const handler = resources[fn.logicalId]?.Properties?.Handler;
  if (codeDir === undefined || handler === undefined) {
    throw new Error(`function ${fn.logicalId} has no bundled code asset or no Handler in the template`);
  }
  const emf = options.emf;
  return BundledFunction.start({
    codeDir,
    handler,
    function: fn,
    environment: lambdaEnvironment(fn, local, codeDir, { POWERTOOLS_LOG_LEVEL: options.logLevel ?? 'WARN' }),
    onStdout: (line) => (emf !== undefined && line.startsWith('{"_aws":') ? emf(line) : console.log(line)),
  });
}

/** Which stage a function of the template runs, from the runtime config in its environment. */
/** What a stage's `handler.ts` exports: the handler over a runtime, as its `index.ts` builds it on Lambda. */
const stageModuleSchema = z.object({
  createHandler: z.custom<(runtime: StageRuntime) => SqsFunctionHandler>((value) => typeof value === 'function'),
});

/**
 * Loads `createHandler` from a stage's `handler.ts` (its definition's `module` folder): the local runtime runs the
 * same code as the stage's Lambda entry, for any stage of the pipeline.
 * @throws {Error} naming the module when it does not export `createHandler`.
 */
async function stageHandlerFactory(stage: StageDefinition): Promise<(runtime: StageRuntime) => SqsFunctionHandler> {
  const path = join(PROJECT_ROOT, stage.module, 'handler.ts');
  const parsed = stageModuleSchema.safeParse(await import(pathToFileURL(path).href));
  if (!parsed.success) throw new Error(`${path} (stage ${stage.name}) does not export a createHandler function`);
  return parsed.data.createHandler;
}

function stageOfFunction(environment: Readonly<Record<string, string>>): Stage {
  const text = environment[STAGE_ENVIRONMENT_KEYS.SLUICE_RUNTIME_CONFIG] ?? '{}';
  const parsed = z.object({ stage: stageSchema }).safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`a function of the template has no valid stage in its runtime config: ${text}`);
  return parsed.data.stage;
}

/** The `sluice` context of the project's cdk.json: the same settings `cdk synth` reads. */
export async function cdkJsonConfig(): Promise<Record<string, unknown>> {
  const text = await readFile(new URL('../cdk.json', import.meta.url), 'utf8');
  const cdkJson = JSON.parse(text) as { context?: { sluice?: Record<string, unknown> } };
  return cdkJson.context?.sluice ?? {};
}
