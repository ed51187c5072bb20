import type { SqsEventSourcePoller } from '../poller.ts';
import { effectiveConcurrency, type LocalEventSource, type LocalFunction } from '../resources.ts';
import { LambdaApiError, namesFunction } from './lambda-api.ts';
import { type MappingSettings, type MappingUpdate, validateUpdate } from './mapping-settings.ts';
import { mergeKept, readStateFile, toPersisted, writeStateFile } from './mapping-state-file.ts';

/**
 * The event-source-mapping part of the AWS Lambda REST API (`GetEventSourceMapping`, `UpdateEventSourceMapping`,
 * `ListEventSourceMappings`), backed by the runtime's pollers: disabling a mapping pauses its poller (in-flight
 * invocations finish), enabling resumes it, and a new maximum concurrency or batching applies at once. With a state
 * file, what was changed through the API survives a restart, as a mapping's settings survive on AWS.
 */

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

/** The runtime's mappings, each with its function and poller, and where changes made through the API are kept. */
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
    const next = validateUpdate(mapping.settings, mapping.function, request);
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
        await writeStateFile(file, state);
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
