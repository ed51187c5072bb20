import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import { z } from 'zod';
import { readJsonBody, sendJson } from './aws-http.ts';
import { DEFAULT_LOCAL_REGION, LOCAL_ACCOUNT_ID } from './emulators.ts';
import type { SqsEventSourcePoller } from './poller.ts';
import { effectiveConcurrency, type LocalEventSource, type LocalFunction } from './resources.ts';
import { answerSecretsManager, isSecretsManagerRequest, LocalSecretsManager } from './secrets-manager.ts';

/**
 * The local runtime's control API, served on loopback: the event-source-mapping part of the AWS Lambda REST API
 * (`GetEventSourceMapping`, `UpdateEventSourceMapping`, `ListEventSourceMappings`) for `@aws-sdk/client-lambda`,
 * backed by the runtime's pollers: disabling a mapping pauses its poller (in-flight invocations finish), enabling
 * resumes it, and a new maximum concurrency or batching applies at once. With a data directory, what was changed
 * through the API survives a restart, as a mapping's settings survive on AWS. On the same endpoint:
 * `GetFunctionConfiguration` and `GetFunction` for the deployment's functions, and the Secrets Manager JSON API
 * (see secrets-manager.ts) for `@aws-sdk/client-secrets-manager`.
 */

/** Path of the 2015-03-31 Lambda API under which the mappings live. */
const MAPPINGS_PATH = '/2015-03-31/event-source-mappings';
/** Path of the 2015-03-31 Lambda API under which the functions live. */
const FUNCTIONS_PATH = '/2015-03-31/functions';
const LOOPBACK = '127.0.0.1';

/** AWS's limits on the settings this API changes (API_UpdateEventSourceMapping, API_ScalingConfig). */
export const MAPPING_LIMITS = {
  batchSize: { min: 1, max: 10_000 },
  /** SQS: more than 10 records per batch needs a batching window of at least one second. */
  batchSizeWithoutWindow: 10,
  maximumBatchingWindowInSeconds: { min: 0, max: 300 },
  maximumConcurrency: { min: 2, max: 1000 },
} as const;

/** A mapping's state, as `GetEventSourceMapping` reports it. */
export type MappingState = 'Enabled' | 'Enabling' | 'Disabled' | 'Disabling' | 'Updating';

/** `EventSourceMappingConfiguration` as the Lambda API returns it (the members an SQS mapping has). */
export interface EventSourceMappingConfiguration {
  readonly UUID: string;
  readonly EventSourceMappingArn: string;
  readonly EventSourceArn: string;
  readonly FunctionArn: string;
  readonly BatchSize: number;
  readonly MaximumBatchingWindowInSeconds: number;
  readonly ScalingConfig?: { readonly MaximumConcurrency: number };
  readonly FunctionResponseTypes: readonly string[];
  readonly State: MappingState;
  readonly StateTransitionReason: string;
  /** Epoch seconds, as the REST-JSON protocol writes timestamps. */
  readonly LastModified: number;
}

/** An error the API answers in AWS's shape: `x-amzn-ErrorType` and a JSON body with the message. */
export class LambdaApiError extends Error {
  readonly type: string;
  readonly status: number;

  constructor(type: string, status: number, message: string) {
    super(message);
    this.name = 'LambdaApiError';
    this.type = type;
    this.status = status;
  }
}

/** What a mapping can be changed to; `maximumConcurrency` undefined means no cap (AWS: `ScalingConfig: {}`). */
interface MappingSettings {
  readonly enabled: boolean;
  readonly batchSize: number;
  readonly maximumBatchingWindowSeconds: number;
  readonly maximumConcurrency: number | undefined;
}

interface Mapping {
  readonly eventSource: LocalEventSource;
  readonly function: LocalFunction;
  readonly poller: SqsEventSourcePoller;
  readonly arn: string;
  /** As the template describes the mapping: the baseline of what the API changed. */
  readonly template: MappingSettings;
  settings: MappingSettings;
  /** A transition the API started and the poller has not finished (disabling waits for in-flight invocations). */
  state: MappingState;
  lastModifiedMs: number;
}

export interface LocalEventSourceMappingsOptions {
  readonly mappings: readonly {
    readonly eventSource: LocalEventSource;
    readonly function: LocalFunction;
    readonly poller: SqsEventSourcePoller;
  }[];
  readonly region: string;
  readonly accountId: string;
  /** Where changes made through the API are kept across restarts; in memory when absent. */
  readonly stateFile?: string | undefined;
  /** @default Date.now */
  readonly clock?: () => number;
}

/** What {@link LocalEventSourceMappings.update} accepts: the members of `UpdateEventSourceMappingRequest` emulated here. */
export interface MappingUpdate {
  readonly FunctionName?: string;
  readonly Enabled?: boolean;
  readonly BatchSize?: number;
  readonly MaximumBatchingWindowInSeconds?: number;
  readonly ScalingConfig?: { readonly MaximumConcurrency?: number };
}

/** The members of an update request this API does not emulate: refused rather than silently ignored. */
const UNSUPPORTED_UPDATE_MEMBERS = [
  'FilterCriteria',
  'KMSKeyArn',
  'MetricsConfig',
  'LoggingConfig',
  'ParallelizationFactor',
  'DestinationConfig',
  'MaximumRecordAgeInSeconds',
  'BisectBatchOnFunctionError',
  'MaximumRetryAttempts',
  'TumblingWindowInSeconds',
  'SourceAccessConfigurations',
  'FunctionResponseTypes',
  'AmazonManagedKafkaEventSourceConfig',
  'SelfManagedKafkaEventSourceConfig',
  'DocumentDBEventSourceConfig',
  'ProvisionedPollerConfig',
] as const;

const persistedSettingsSchema = z.object({
  enabled: z.boolean(),
  batchSize: z.number().int(),
  maximumBatchingWindowSeconds: z.number(),
  maximumConcurrency: z.number().int().nullable(),
});
const persistedStateSchema = z.record(
  z.string(),
  z.object({ template: persistedSettingsSchema, settings: persistedSettingsSchema, lastModifiedMs: z.number() }),
);
type PersistedSettings = z.infer<typeof persistedSettingsSchema>;

/**
 * The runtime's event source mappings as the Lambda API sees them, each backed by its poller.
 * @example
 * const mappings = await LocalEventSourceMappings.create({ mappings, region, accountId });
 * await mappings.update(uuid, { Enabled: false }); // the poller stops receiving
 */
export class LocalEventSourceMappings {
  readonly #mappings: ReadonlyMap<string, Mapping>;
  readonly #stateFile: string | undefined;
  readonly #clock: () => number;
  /** Writes of the state file, one after another. */
  #saving: Promise<void> = Promise.resolve();

  private constructor(mappings: ReadonlyMap<string, Mapping>, stateFile: string | undefined, clock: () => number) {
    this.#mappings = mappings;
    this.#stateFile = stateFile;
    this.#clock = clock;
  }

  /**
   * Builds the mappings from the runtime's event sources and pollers, applying what an earlier run changed
   * through the API (from `stateFile`) wherever the template still says what it said then: as on AWS, a setting
   * changed in the template wins over one changed through the API before.
   */
  static async create(options: LocalEventSourceMappingsOptions): Promise<LocalEventSourceMappings> {
    const clock = options.clock ?? Date.now;
    const persisted = options.stateFile === undefined ? {} : await readStateFile(options.stateFile);
    const mappings = new Map<string, Mapping>();
    for (const { eventSource, function: fn, poller } of options.mappings) {
      const template: MappingSettings = {
        enabled: eventSource.enabled,
        batchSize: eventSource.batchSize,
        maximumBatchingWindowSeconds: eventSource.maximumBatchingWindowSeconds,
        maximumConcurrency: eventSource.maximumConcurrency,
      };
      const kept = persisted[eventSource.uuid];
      const settings = kept === undefined ? template : mergeKept(template, kept.template, kept.settings);
      const mapping: Mapping = {
        eventSource,
        function: fn,
        poller,
        arn: `arn:aws:lambda:${options.region}:${options.accountId}:event-source-mapping:${eventSource.uuid}`,
        template,
        settings,
        state: settings.enabled ? 'Enabled' : 'Disabled',
        lastModifiedMs: kept?.lastModifiedMs ?? clock(),
      };
      configurePoller(mapping);
      // The runtime has not started the poller yet: this only sets whether start() will poll.
      if (settings.enabled) poller.resume();
      else await poller.pause();
      mappings.set(eventSource.uuid, mapping);
    }
    return new LocalEventSourceMappings(mappings, options.stateFile, clock);
  }

  /**
   * `GetEventSourceMapping`.
   * @throws {LambdaApiError} `ResourceNotFoundException` for an unknown UUID.
   */
  get(uuid: string): EventSourceMappingConfiguration {
    return this.#describe(this.#find(uuid));
  }

  /**
   * `ListEventSourceMappings`, filtered by queue ARN and function (name or ARN), paged by `marker`.
   * @example mappings.list({ functionName: 'ExtractFunction' }).EventSourceMappings
   */
  list(filter: { eventSourceArn?: string; functionName?: string; marker?: string; maxItems?: number } = {}): {
    EventSourceMappings: EventSourceMappingConfiguration[];
    NextMarker?: string;
  } {
    const matching = [...this.#mappings.values()].filter(
      (mapping) =>
        (filter.eventSourceArn === undefined || mapping.eventSource.queueArn === filter.eventSourceArn) &&
        (filter.functionName === undefined || namesFunction(filter.functionName, mapping.function)),
    );
    const start = filter.marker === undefined ? 0 : Number(filter.marker);
    if (!Number.isInteger(start) || start < 0 || start > matching.length) {
      throw new LambdaApiError('InvalidParameterValueException', 400, `Invalid marker: ${filter.marker}`);
    }
    const end = Math.min(matching.length, start + (filter.maxItems ?? 100));
    return {
      EventSourceMappings: matching.slice(start, end).map((mapping) => this.#describe(mapping)),
      ...(end < matching.length && { NextMarker: String(end) }),
    };
  }

  /**
   * `UpdateEventSourceMapping`: `Enabled`, `BatchSize`, `MaximumBatchingWindowInSeconds` and
   * `ScalingConfig.MaximumConcurrency`, validated as AWS validates them, applied to the poller at once. The answer
   * shows the transition (`Disabling`, `Enabling`, `Updating`); disabling completes once the invocations in
   * flight have finished.
   * @throws {LambdaApiError} `ResourceNotFoundException`, `ValidationException` (a value out of AWS's range),
   *   `InvalidParameterValueException` (an inconsistent or unsupported setting).
   * @example mappings.update(uuid, { ScalingConfig: { MaximumConcurrency: 2 } });
   */
  async update(uuid: string, request: MappingUpdate): Promise<EventSourceMappingConfiguration> {
    const mapping = this.#find(uuid);
    const next = validateUpdate(mapping, request);
    const previous = mapping.settings;
    mapping.settings = next;
    const enabling = next.enabled && !previous.enabled;
    const disabling = !next.enabled && previous.enabled;
    const reconfigured =
      next.batchSize !== previous.batchSize ||
      next.maximumBatchingWindowSeconds !== previous.maximumBatchingWindowSeconds ||
      next.maximumConcurrency !== previous.maximumConcurrency;
    if (enabling || disabling || reconfigured) {
      mapping.lastModifiedMs = this.#clock();
    }
    configurePoller(mapping);
    const shown: MappingState = enabling
      ? 'Enabling'
      : disabling
        ? 'Disabling'
        : reconfigured
          ? 'Updating'
          : mapping.state;
    if (enabling) {
      mapping.poller.resume();
      mapping.state = 'Enabled';
    } else if (disabling) {
      mapping.state = 'Disabling';
      void mapping.poller.pause().then(() => {
        // A mapping enabled again meanwhile stays enabled.
        if (!mapping.settings.enabled) mapping.state = 'Disabled';
      });
    }
    const answer = { ...this.#describe(mapping), State: shown };
    if (enabling || disabling || reconfigured) await this.#save();
    return answer;
  }

  /** Waits for the state file writes under way. */
  async flush(): Promise<void> {
    await this.#saving;
  }

  #find(uuid: string): Mapping {
    const mapping = this.#mappings.get(uuid);
    if (mapping === undefined) {
      throw new LambdaApiError('ResourceNotFoundException', 404, 'The resource you requested does not exist.');
    }
    return mapping;
  }

  #describe(mapping: Mapping): EventSourceMappingConfiguration {
    const { eventSource, settings } = mapping;
    return {
      UUID: eventSource.uuid,
      EventSourceMappingArn: mapping.arn,
      EventSourceArn: eventSource.queueArn,
      FunctionArn: mapping.function.functionArn,
      BatchSize: settings.batchSize,
      MaximumBatchingWindowInSeconds: settings.maximumBatchingWindowSeconds,
      ...(settings.maximumConcurrency !== undefined && {
        ScalingConfig: { MaximumConcurrency: settings.maximumConcurrency },
      }),
      FunctionResponseTypes: eventSource.reportBatchItemFailures ? ['ReportBatchItemFailures'] : [],
      State: mapping.state,
      StateTransitionReason: 'USER_INITIATED',
      LastModified: Math.floor(mapping.lastModifiedMs / 1000),
    };
  }

  async #save(): Promise<void> {
    const file = this.#stateFile;
    if (file === undefined) return;
    const toPersisted = (settings: MappingSettings): PersistedSettings => ({
      ...settings,
      maximumConcurrency: settings.maximumConcurrency ?? null,
    });
    const state = Object.fromEntries(
      [...this.#mappings].map(([uuid, mapping]) => [
        uuid,
        {
          template: toPersisted(mapping.template),
          settings: toPersisted(mapping.settings),
          lastModifiedMs: mapping.lastModifiedMs,
        },
      ]),
    );
    const write = async () => {
      try {
        await mkdir(dirname(file), { recursive: true });
        const partial = `${file}.${process.pid}.partial`;
        await writeFile(partial, `${JSON.stringify(state, null, 2)}\n`, 'utf8');
        await rename(partial, file);
      } catch (error) {
        // The change holds for this run; only its survival across a restart is lost.
        process.emitWarning(`could not keep the event source mappings' state in ${file}: ${String(error)}`);
      }
    };
    this.#saving = this.#saving.then(write);
    await this.#saving;
  }
}

/** Gives the poller the mapping's batching and concurrency (enabling and disabling are the caller's). */
function configurePoller(mapping: Mapping): void {
  const { poller, settings } = mapping;
  poller.setBatching({
    batchSize: settings.batchSize,
    maximumBatchingWindowSeconds: settings.maximumBatchingWindowSeconds,
  });
  const concurrency = effectiveConcurrency(settings.maximumConcurrency, mapping.function.reservedConcurrency);
  // Reserved concurrency 0 leaves the function never invoked, whatever the mapping says.
  if (concurrency > 0 && concurrency !== poller.maxConcurrency) poller.setMaxConcurrency(concurrency);
}

/** The settings an update asks for, or the AWS error it gets. */
function validateUpdate(mapping: Mapping, request: MappingUpdate): MappingSettings {
  const unsupported = UNSUPPORTED_UPDATE_MEMBERS.filter((member) => member in request);
  if (unsupported.length > 0) {
    throw new LambdaApiError(
      'InvalidParameterValueException',
      400,
      `${unsupported.join(', ')} cannot be changed on the local runtime: it emulates Enabled, BatchSize, MaximumBatchingWindowInSeconds and ScalingConfig`,
    );
  }
  if (request.FunctionName !== undefined && !namesFunction(request.FunctionName, mapping.function)) {
    throw new LambdaApiError(
      'InvalidParameterValueException',
      400,
      `The local runtime cannot move a mapping to another function (${request.FunctionName})`,
    );
  }
  const violations: string[] = [];
  const checkRange = (value: number | undefined, member: string, range: { min: number; max: number }) => {
    if (value === undefined) return;
    if (value < range.min) {
      violations.push(
        `Value '${value}' at '${member}' failed to satisfy constraint: Member must have value greater than or equal to ${range.min}`,
      );
    } else if (value > range.max) {
      violations.push(
        `Value '${value}' at '${member}' failed to satisfy constraint: Member must have value less than or equal to ${range.max}`,
      );
    }
  };
  checkRange(request.BatchSize, 'batchSize', MAPPING_LIMITS.batchSize);
  checkRange(
    request.MaximumBatchingWindowInSeconds,
    'maximumBatchingWindowInSeconds',
    MAPPING_LIMITS.maximumBatchingWindowInSeconds,
  );
  checkRange(
    request.ScalingConfig?.MaximumConcurrency,
    'scalingConfig.maximumConcurrency',
    MAPPING_LIMITS.maximumConcurrency,
  );
  if (violations.length > 0) {
    const count = violations.length === 1 ? '1 validation error' : `${violations.length} validation errors`;
    throw new LambdaApiError('ValidationException', 400, `${count} detected: ${violations.join('; ')}`);
  }
  const current = mapping.settings;
  const next: MappingSettings = {
    enabled: request.Enabled ?? current.enabled,
    batchSize: request.BatchSize ?? current.batchSize,
    maximumBatchingWindowSeconds: request.MaximumBatchingWindowInSeconds ?? current.maximumBatchingWindowSeconds,
    // ScalingConfig {} removes the cap, as on AWS; no ScalingConfig keeps it.
    maximumConcurrency:
      request.ScalingConfig === undefined ? current.maximumConcurrency : request.ScalingConfig.MaximumConcurrency,
  };
  if (next.batchSize > MAPPING_LIMITS.batchSizeWithoutWindow && next.maximumBatchingWindowSeconds < 1) {
    throw new LambdaApiError(
      'InvalidParameterValueException',
      400,
      'Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10',
    );
  }
  return next;
}

/** Whether a FunctionName parameter (name, ARN, or partial ARN) names the function. */
function namesFunction(name: string, fn: LocalFunction): boolean {
  return name === fn.functionName || name === fn.functionArn || fn.functionArn.endsWith(`:function:${name}`);
}

/** A setting changed through the API is kept while the template still says what it said when it was changed. */
function mergeKept(
  template: MappingSettings,
  keptTemplate: PersistedSettings,
  kept: PersistedSettings,
): MappingSettings {
  const keep = <K extends keyof MappingSettings>(
    key: K,
    keptValue: MappingSettings[K],
    keptBase: MappingSettings[K],
  ) => (template[key] === keptBase ? keptValue : template[key]);
  return {
    enabled: keep('enabled', kept.enabled, keptTemplate.enabled),
    batchSize: keep('batchSize', kept.batchSize, keptTemplate.batchSize),
    maximumBatchingWindowSeconds: keep(
      'maximumBatchingWindowSeconds',
      kept.maximumBatchingWindowSeconds,
      keptTemplate.maximumBatchingWindowSeconds,
    ),
    maximumConcurrency: keep(
      'maximumConcurrency',
      kept.maximumConcurrency ?? undefined,
      keptTemplate.maximumConcurrency ?? undefined,
    ),
  };
}

async function readStateFile(file: string): Promise<z.infer<typeof persistedStateSchema>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
  const parsed = persistedStateSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new Error(`${file} is not a state file of the local Lambda control API; delete it to start afresh`);
  }
  return parsed.data;
}

/** The members of an update request, checked for type; unknown members are kept so they can be refused by name. */
const updateRequestSchema = z.looseObject({
  FunctionName: z.string().optional(),
  Enabled: z.boolean().optional(),
  BatchSize: z.number().int().optional(),
  MaximumBatchingWindowInSeconds: z.number().int().optional(),
  ScalingConfig: z.looseObject({ MaximumConcurrency: z.number().int().optional() }).optional(),
});

/** A function of the deployment as `GetFunctionConfiguration` describes it, with what the template says of it. */
export interface ServedFunction {
  readonly function: LocalFunction;
  /** The template's `Runtime`, e.g. `nodejs24.x`. */
  readonly runtime?: string | undefined;
  readonly handler?: string | undefined;
  readonly architectures?: readonly string[] | undefined;
  /** The execution role's ARN (the role itself is not emulated). */
  readonly role?: string | undefined;
}

/** `FunctionConfiguration` as the Lambda API returns it (the members a local function has). */
export interface FunctionConfiguration {
  readonly FunctionName: string;
  readonly FunctionArn: string;
  readonly Runtime?: string;
  readonly Role?: string;
  readonly Handler?: string;
  readonly Timeout: number;
  readonly MemorySize: number;
  /** As Lambda writes it, e.g. `2026-11-21T08:55:12.000+0000`. */
  readonly LastModified: string;
  readonly Version: '$LATEST';
  readonly Environment: { readonly Variables: Readonly<Record<string, string>> };
  readonly State: 'Active';
  readonly LastUpdateStatus: 'Successful';
  readonly PackageType: 'Zip';
  readonly Architectures?: readonly string[];
}

/**
 * The deployment's functions as `GetFunctionConfiguration` and `GetFunction` see them: their settings from the
 * template and their environment as resolved locally (the values the handlers run with).
 * @example
 * const functions = new LocalFunctions([{ function: fn, runtime: 'nodejs24.x' }]);
 * functions.configuration('ExtractFunction').Environment.Variables.SLUICE_RUNTIME_CONFIG;
 */
export class LocalFunctions {
  readonly #functions: readonly ServedFunction[];
  readonly #lastModified: string;

  constructor(functions: readonly ServedFunction[], options: { readonly clock?: () => number } = {}) {
    this.#functions = functions;
    this.#lastModified = new Date((options.clock ?? Date.now)()).toISOString().replace('Z', '+0000');
  }

  /**
   * `GetFunctionConfiguration`: the function a name, ARN or partial ARN names (qualified by `$LATEST` or not).
   * @throws {LambdaApiError} `ResourceNotFoundException` for a function the deployment does not have.
   */
  configuration(name: string, qualifier?: string): FunctionConfiguration {
    const served = this.#find(name, qualifier);
    const fn = served.function;
    return {
      FunctionName: fn.functionName,
      FunctionArn: fn.functionArn,
      ...(served.runtime !== undefined && { Runtime: served.runtime }),
      ...(served.role !== undefined && { Role: served.role }),
      ...(served.handler !== undefined && { Handler: served.handler }),
      Timeout: fn.timeoutSeconds,
      MemorySize: fn.memoryMb,
      LastModified: this.#lastModified,
      Version: '$LATEST',
      Environment: { Variables: { ...fn.environment } },
      State: 'Active',
      LastUpdateStatus: 'Successful',
      PackageType: 'Zip',
      ...(served.architectures !== undefined && { Architectures: [...served.architectures] }),
    };
  }

  /**
   * `GetFunction`: the configuration and the reserved concurrency (there is no code package to point at).
   * @throws {LambdaApiError} `ResourceNotFoundException` for a function the deployment does not have.
   */
  get(
    name: string,
    qualifier?: string,
  ): { Configuration: FunctionConfiguration; Concurrency?: { ReservedConcurrentExecutions: number } } {
    const reserved = this.#find(name, qualifier).function.reservedConcurrency;
    return {
      Configuration: this.configuration(name, qualifier),
      ...(reserved !== undefined && { Concurrency: { ReservedConcurrentExecutions: reserved } }),
    };
  }

  #find(name: string, qualifier: string | undefined): ServedFunction {
    // A qualified name or ARN (`Name:$LATEST`) names the unpublished version, the only one there is locally.
    const [bare, inlineQualifier] = splitQualifier(name);
    const version = qualifier ?? inlineQualifier;
    const served = this.#functions.find((candidate) => namesFunction(bare, candidate.function));
    if (served === undefined || (version !== undefined && version !== '$LATEST')) {
      const arn = served?.function.functionArn ?? name;
      throw new LambdaApiError(
        'ResourceNotFoundException',
        404,
        `Function not found: ${arn}${version === undefined ? '' : `:${version}`}`,
      );
    }
    return served;
  }
}

/** `Name:$LATEST` or `arn:...:function:Name:$LATEST` → the name or ARN and the qualifier. */
function splitQualifier(name: string): [string, string | undefined] {
  const parts = name.split(':');
  const isArn = parts[0] === 'arn';
  // An unqualified ARN has 7 parts (arn:aws:lambda:region:account:function:name); a bare name has 1.
  if ((isArn && parts.length === 8) || (!isArn && parts.length === 2)) {
    return [parts.slice(0, -1).join(':'), parts.at(-1)];
  }
  return [name, undefined];
}

/** The Lambda control API's HTTP server. */
export interface LambdaControlServer {
  /** e.g. `http://127.0.0.1:40125`: the `endpoint` of a `LambdaClient`. */
  readonly endpoint: string;
  /** The secrets the Secrets Manager API serves, from the start (they do not wait for `serve`). */
  readonly secrets: LocalSecretsManager;
  /**
   * Starts answering the Lambda API with these mappings and functions; until then every Lambda request gets a
   * 503.
   */
  serve(mappings: LocalEventSourceMappings, functions?: LocalFunctions): void;
  stop(): Promise<void>;
}

export interface LambdaControlServerOptions {
  /** @default any free port */
  readonly port?: number | undefined;
  /** @default an empty in-memory store */
  readonly secrets?: LocalSecretsManager | undefined;
}

/**
 * Listens on loopback for the Lambda REST API's event-source-mapping and function operations, and for the Secrets
 * Manager JSON API.
 * @example
 * const server = await startLambdaControlServer({ secrets });
 * server.serve(mappings, functions);
 * const lambda = new LambdaClient({ endpoint: server.endpoint, region, credentials });
 * await lambda.send(new UpdateEventSourceMappingCommand({ UUID: uuid, Enabled: false }));
 * const secretsManager = new SecretsManagerClient({ endpoint: server.endpoint, region, credentials });
 */
export async function startLambdaControlServer(options: LambdaControlServerOptions = {}): Promise<LambdaControlServer> {
  const secrets =
    options.secrets ?? (await LocalSecretsManager.open({ region: DEFAULT_LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID }));
  let served: { mappings: LocalEventSourceMappings; functions: LocalFunctions } | undefined;
  const server = createServer((request, response) => {
    if (isSecretsManagerRequest(request)) void answerSecretsManager(secrets, request, response);
    else void answer(served, request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, LOOPBACK, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') {
    server.close();
    throw new Error('the Lambda control server did not report a TCP address');
  }
  return {
    endpoint: `http://${LOOPBACK}:${address.port}`,
    secrets,
    serve(mappings, functions = new LocalFunctions([])) {
      served = { mappings, functions };
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive sockets of SDK clients would otherwise hold the close open.
        server.closeAllConnections();
      }),
  };
}

async function answer(
  served: { mappings: LocalEventSourceMappings; functions: LocalFunctions } | undefined,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const requestId = randomUUID();
  try {
    if (served === undefined) {
      throw new LambdaApiError('ServiceException', 503, 'The local runtime is still starting');
    }
    const { mappings, functions } = served;
    const url = new URL(request.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '');
    const method = request.method ?? 'GET';
    if (path.startsWith(`${FUNCTIONS_PATH}/`) && method === 'GET') {
      const rest = path.slice(FUNCTIONS_PATH.length + 1);
      const qualifier = url.searchParams.get('Qualifier') ?? undefined;
      const configuration = rest.match(/^([^/]+)\/configuration$/);
      if (configuration?.[1] !== undefined) {
        return sendJson(
          response,
          200,
          requestId,
          functions.configuration(decodeURIComponent(configuration[1]), qualifier),
          'application/json',
        );
      }
      if (!rest.includes('/'))
        return sendJson(
          response,
          200,
          requestId,
          functions.get(decodeURIComponent(rest), qualifier),
          'application/json',
        );
    }
    if (path === MAPPINGS_PATH && method === 'GET') {
      const maxItems = url.searchParams.get('MaxItems');
      const max = maxItems === null ? undefined : Number(maxItems);
      if (max !== undefined && (!Number.isInteger(max) || max < 1 || max > 10_000)) {
        throw new LambdaApiError(
          'ValidationException',
          400,
          `1 validation error detected: Value '${maxItems}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000`,
        );
      }
      const filter = {
        ...optionalParameter(url, 'EventSourceArn', 'eventSourceArn'),
        ...optionalParameter(url, 'FunctionName', 'functionName'),
        ...optionalParameter(url, 'Marker', 'marker'),
        ...(max !== undefined && { maxItems: max }),
      };
      return sendJson(response, 200, requestId, mappings.list(filter), 'application/json');
    }
    if (path.startsWith(`${MAPPINGS_PATH}/`)) {
      const uuid = decodeURIComponent(path.slice(MAPPINGS_PATH.length + 1));
      if (method === 'GET') return sendJson(response, 200, requestId, mappings.get(uuid), 'application/json');
      if (method === 'PUT') {
        const body = await readJsonBody(request, {
          tooLarge: () => new LambdaApiError('RequestTooLargeException', 413, 'Request must be smaller than 256 KB'),
          notJson: (why) =>
            new LambdaApiError('InvalidRequestContentException', 400, `Could not parse request body into json: ${why}`),
        });
        const parsed = updateRequestSchema.safeParse(body);
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          throw new LambdaApiError(
            'InvalidRequestContentException',
            400,
            `Could not read the request body: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`,
          );
        }
        return sendJson(response, 202, requestId, await mappings.update(uuid, parsed.data), 'application/json');
      }
    }
    throw new LambdaApiError(
      'UnknownOperationException',
      404,
      `${method} ${path} is not served locally: the local Lambda control API has GetEventSourceMapping, UpdateEventSourceMapping, ListEventSourceMappings, GetFunctionConfiguration and GetFunction`,
    );
  } catch (error) {
    const apiError =
      error instanceof LambdaApiError
        ? error
        : new LambdaApiError('ServiceException', 500, `The local Lambda control API failed: ${String(error)}`);
    response.setHeader('x-amzn-ErrorType', apiError.type);
    // Lambda's model spells the member `message` on some errors and `Message` on others: both are sent.
    sendJson(
      response,
      apiError.status,
      requestId,
      { Type: 'User', Message: apiError.message, message: apiError.message },
      'application/json',
    );
  }
}

function optionalParameter<K extends string>(url: URL, name: string, key: K): Partial<Record<K, string>> {
  const value = url.searchParams.get(name);
  return value === null ? {} : ({ [key]: value } as Record<K, string>);
}
