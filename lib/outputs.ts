/**
 * The names of the stack and its outputs, in one place: the stack defines exactly these (lib/sluice-stack.ts types its
 * outputs by them), `sluice doctor` checks a target has them, and `sluice dev` adds the local ones. No import at
 * all, so the operator commands read a target without loading the CDK or the emulators.
 */

/** Construct id, hence CloudFormation stack name, of the sluice stack. */
export const STACK_NAME = 'Sluice';

/** The outputs the stack always defines. */
export const STACK_OUTPUT_KEYS = [
  'IntakeQueueUrl',
  'IntakeQueueArn',
  'IntakeDeadLetterQueueUrl',
  'IntakeDeadLetterQueueArn',
  'DraftQueueUrl',
  'DraftQueueArn',
  'DraftDeadLetterQueueUrl',
  'DraftDeadLetterQueueArn',
  'PublishedQueueUrl',
  'PublishedQueueArn',
  'PublishedDeadLetterQueueUrl',
  'PublishedDeadLetterQueueArn',
  'StateTableName',
  'MemoryTableName',
  'ApiKeySecretArn',
  'ExtractFunctionName',
  'DraftFunctionName',
  'ExtractEventSourceMappingId',
  'DraftEventSourceMappingId',
  'AlarmTopicArn',
  'DashboardName',
] as const;

/** Outputs only some configurations of the stack define: never reported missing. */
export const OPTIONAL_STACK_OUTPUT_KEYS = ['SupervisorFunctionName'] as const;

/** Any output name of the stack. */
export type StackOutputKey = (typeof STACK_OUTPUT_KEYS)[number] | (typeof OPTIONAL_STACK_OUTPUT_KEYS)[number];

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
