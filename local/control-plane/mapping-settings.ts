import type { LocalFunction } from '../resources.ts';
import { LambdaApiError, namesFunction } from './lambda-api.ts';

/** What `UpdateEventSourceMapping` may change on a local mapping, and AWS's rules for changing it. */

/** AWS's limits on the settings this API changes (API_UpdateEventSourceMapping, API_ScalingConfig). */
const MAPPING_LIMITS = {
  batchSize: { min: 1, max: 10_000 },
  /** SQS: more than 10 records per batch needs a batching window of at least one second. */
  batchSizeWithoutWindow: 10,
  maximumBatchingWindowInSeconds: { min: 0, max: 300 },
  maximumConcurrency: { min: 2, max: 1000 },
} as const;

/** What a mapping can be changed to; `maximumConcurrency` undefined means no cap (AWS: `ScalingConfig: {}`). */
export interface MappingSettings {
  readonly enabled: boolean;
  readonly batchSize: number;
  readonly maximumBatchingWindowSeconds: number;
  readonly maximumConcurrency: number | undefined;
}

/** What `LocalEventSourceMappings.update` accepts: the members of `UpdateEventSourceMappingRequest` emulated here. */
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

/**
 * The settings an update asks for, or the AWS error it gets.
 * @throws {LambdaApiError} `ValidationException` (a value out of AWS's range), `InvalidParameterValueException`
 *   (an inconsistent or unsupported setting).
 * @example validateUpdate(mapping.settings, mapping.function, { BatchSize: 5 }).batchSize // 5
 */
export function validateUpdate(current: MappingSettings, fn: LocalFunction, request: MappingUpdate): MappingSettings {
  const unsupported = UNSUPPORTED_UPDATE_MEMBERS.filter((member) => member in request);
  if (unsupported.length > 0) {
    throw new LambdaApiError(
      'InvalidParameterValueException',
      400,
      `${unsupported.join(', ')} cannot be changed on the local runtime: it emulates Enabled, BatchSize, MaximumBatchingWindowInSeconds and ScalingConfig`,
    );
  }
  if (request.FunctionName !== undefined && !namesFunction(request.FunctionName, fn)) {
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
