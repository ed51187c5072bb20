/**
 * The names of the stack's outputs, in one place: the stack defines exactly these (lib/sluice-stack.ts types its
 * outputs by them), and `sluice doctor` checks a target has them. No CDK import, so the CLI can use it.
 */

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
