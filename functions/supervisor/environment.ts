import { Logger } from '@aws-lambda-powertools/logger';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type * as z from 'zod';
import { RuntimeConfigError } from '#shared/errors.ts';
import { OpenAiLlmClient } from '#shared/llm-client.ts';
import { MemoryStore } from '#shared/memory-store.ts';
import { SERVICE_NAME } from '#shared/metric-catalogue.ts';
import { apiKeyFromSecret } from '#shared/stage-runtime.ts';
import { formatIssues } from '#shared/validation.ts';
import {
  type SupervisorRuntimeConfig,
  supervisedStageKeys,
  supervisorEnvironmentSchema,
  supervisorRuntimeConfigSchema,
} from './runtime-config.ts';
import { Supervisor } from './supervisor.ts';

/**
 * Builds the supervisor from the function's environment once, at init, failing fast with every problem named.
 * @example export const handler = createSupervisorHandler(supervisorFromEnvironment(process.env));
 */
export function supervisorFromEnvironment(env: Record<string, string | undefined>): {
  supervisor: Supervisor;
  config: SupervisorRuntimeConfig;
  logger: Logger;
  tracer: Tracer;
} {
  const environment = parse(supervisorEnvironmentSchema, env, 'invalid supervisor environment');
  let raw: unknown;
  try {
    raw = JSON.parse(environment.SLUICE_SUPERVISOR_CONFIG);
  } catch (error) {
    throw new RuntimeConfigError('SLUICE_SUPERVISOR_CONFIG is not JSON', { cause: error });
  }
  const config = parse(supervisorRuntimeConfigSchema, raw, 'invalid SLUICE_SUPERVISOR_CONFIG');
  const tracer = new Tracer({ serviceName: SERVICE_NAME });
  const logger = new Logger({ serviceName: SERVICE_NAME, persistentKeys: { component: 'supervisor' } });
  const dynamo = DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient({})), {
    marshallOptions: { removeUndefinedValues: true },
  });
  const supervisor = new Supervisor({
    config,
    dynamo,
    tableName: environment.STATE_TABLE_NAME,
    lambda: tracer.captureAWSv3Client(new LambdaClient({})),
    sqs: tracer.captureAWSv3Client(new SQSClient({})),
    stages: stagesOf(config, env),
    memory: new MemoryStore(dynamo, environment.MEMORY_TABLE_NAME),
    prober: new OpenAiLlmClient({
      apiKey: () => apiKeyFromSecret(environment.LLM_API_KEY_SECRET_ARN),
      baseUrl: config.llm.baseUrl,
    }),
    logger,
  });
  return { supervisor, config, logger, tracer };
}

/** Each configured stage's queue and event source mapping, from the variables `supervisedStageKeys` names. */
function stagesOf(config: SupervisorRuntimeConfig, env: Record<string, string | undefined>) {
  const missing: string[] = [];
  const stages = Object.fromEntries(
    Object.keys(config.stages).map((stage) => {
      const keys = supervisedStageKeys(stage);
      const [queueUrl, mappingId] = [env[keys.queueUrl], env[keys.mappingId]];
      if (!queueUrl) missing.push(keys.queueUrl);
      if (!mappingId) missing.push(keys.mappingId);
      return [stage, { queueUrl: queueUrl ?? '', mappingId: mappingId ?? '' }];
    }),
  );
  if (missing.length > 0) throw new RuntimeConfigError(`invalid supervisor environment: ${missing.join(', ')} not set`);
  return stages;
}

function parse<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new RuntimeConfigError(`${what}: ${formatIssues(result.error)}`);
  return result.data;
}
