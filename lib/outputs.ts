/**
 * The names of the stack and its outputs, in one place: the stack defines exactly these (lib/sluice-stack.ts types its
 * outputs by them), `sluice doctor` checks a target has them, and `sluice dev` adds the local ones. It imports only
 * the pipeline's definition (plain data), so the operator commands read a target without loading the CDK or the
 * emulators.
 */

import { PIPELINE } from '#functions/pipeline.ts';
import type { Pipeline } from '#shared/pipeline.ts';

/** Construct id, hence CloudFormation stack name, of the sluice stack. */
export const STACK_NAME = 'Sluice';

/** Output key prefix of the published queue (the stages' queues have their `queueKey`). */
export const PUBLISHED_QUEUE_KEY = 'Published';

/** The four outputs of a queue with its dead-letter queue, from its key (`Intake` → `IntakeQueueUrl`, …). */
export function queueOutputKeys(queueKey: string) {
  return {
    url: `${queueKey}QueueUrl`,
    arn: `${queueKey}QueueArn`,
    deadLetterUrl: `${queueKey}DeadLetterQueueUrl`,
    deadLetterArn: `${queueKey}DeadLetterQueueArn`,
  } as const;
}

/** The two outputs of a stage's function, from its construct id (`Extract` → `ExtractFunctionName`, …). */
export function stageOutputKeys(constructId: string) {
  return {
    functionName: `${constructId}FunctionName`,
    eventSourceMappingId: `${constructId}EventSourceMappingId`,
  } as const;
}

/**
 * The outputs the stack always defines for a pipeline: each stage's queue, then the published queue, the tables,
 * the secret, each stage's function and mapping, the alarm topic and the dashboard.
 */
function stackOutputKeysOf(pipeline: Pipeline): readonly string[] {
  const queues = [...pipeline.stages.map((stage) => stage.queueKey), PUBLISHED_QUEUE_KEY];
  return [
    ...queues.flatMap((key) => Object.values(queueOutputKeys(key))),
    'StateTableName',
    'MemoryTableName',
    'ApiKeySecretArn',
    ...pipeline.stages.map((stage) => stageOutputKeys(stage.constructId).functionName),
    ...pipeline.stages.map((stage) => stageOutputKeys(stage.constructId).eventSourceMappingId),
    'AlarmTopicArn',
    'DashboardName',
  ];
}

/** The outputs the stack always defines for the pipeline that ships. */
export const STACK_OUTPUT_KEYS = stackOutputKeysOf(PIPELINE);

/** Outputs only some configurations of the stack define: never reported missing. */
export const OPTIONAL_STACK_OUTPUT_KEYS = ['SupervisorFunctionName'] as const;

/**
 * Keys the local outputs file has beyond the stack's own outputs: where the emulators, the Lambda control API
 * (event source mappings, function configurations) and the local Secrets Manager listen.
 */
export const LOCAL_OUTPUT_KEYS = {
  sqsEndpoint: 'LocalSqsEndpoint',
  dynamoDbEndpoint: 'LocalDynamoDbEndpoint',
  lambdaEndpoint: 'LocalLambdaEndpoint',
  secretsManagerEndpoint: 'LocalSecretsManagerEndpoint',
  region: 'LocalRegion',
} as const;

export interface LocalCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/**
 * Static credentials the local endpoints ({@link LOCAL_OUTPUT_KEYS}) accept: the emulators do not check signatures,
 * but the SDK insists on signing. A fresh object each time: the SDK writes bookkeeping into the credentials object
 * it is given.
 * @example new SQSClient({ endpoint, region, credentials: localCredentials() })
 */
export function localCredentials(): LocalCredentials {
  return { accessKeyId: 'local', secretAccessKey: 'local' };
}
