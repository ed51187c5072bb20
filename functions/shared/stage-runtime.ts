import { Logger } from '@aws-lambda-powertools/logger';
import { getSecret, SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import * as z from 'zod';
import { DailyBudget } from './budget.ts';
import { CallLedger } from './call-ledger.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import { LearnedOutputTokens } from './completion-sizes.ts';
import { RuntimeConfigError, SecretUnavailableError } from './errors.ts';
import type { CrashInjector } from './faults.ts';
import { ItemStore } from './item-store.ts';
import { type LlmClient, OpenAiLlmClient } from './llm-client.ts';
import { MemoryStore } from './memory-store.ts';
import { SERVICE_NAME } from './metric-catalogue.ts';
import { RateLimiter } from './rate-limiter.ts';
import {
  largestOutputTokens,
  type RuntimeConfig,
  runtimeConfigSchema,
  type StageEnvironment,
  stageEnvironmentSchema,
} from './runtime-config.ts';
import { StageQueues } from './stage-queues.ts';
import { type EmfSink, Telemetry } from './telemetry.ts';
import { formatIssues } from './validation.ts';

/** Everything a stage core needs, built once per function instance and passed in (so tests and the local runtime can swap any part). */
export interface StageRuntime {
  config: RuntimeConfig;
  items: ItemStore;
  ledger: CallLedger;
  memory: MemoryStore;
  queues: StageQueues;
  llm: LlmClient;
  limiter: RateLimiter;
  budget: DailyBudget;
  /** The `max_tokens` each step asks for: learned from its answers, or the configured maximum. */
  outputTokens: LearnedOutputTokens;
  /** The shared circuit breaker of a dependency: a model's name, or `memory`. */
  breaker(dependency: string): CircuitBreaker;
  logger: Logger;
  now: () => number;
  /** Metrics (EMF) and traces. */
  telemetry: Telemetry;
  /** Chaos runs only: crashes the stage at chosen points. */
  faults?: CrashInjector | undefined;
}

/** Parts the caller may provide instead of the defaults built from the environment. */
export interface RuntimeOverrides {
  sqs?: SQSClient;
  dynamo?: DynamoDBDocumentClient;
  llm?: LlmClient;
  /** Where the API key comes from; by default the Secrets Manager secret named in the environment. */
  apiKey?: () => Promise<string>;
  /**
   * The Secrets Manager client the API key secret is read through (e.g. the local runtime's), with the same
   * Powertools provider and caching as the default client.
   */
  secrets?: SecretsManagerClient;
  logger?: Logger;
  now?: () => number;
  faults?: CrashInjector;
  /** Where EMF metric lines go; stdout (CloudWatch's EMF) by default. */
  emf?: EmfSink;
  /** The openai SDK's own retries (0 by default: the stage decides). Only the benchmarks' naive baseline sets it. */
  sdkRetries?: number;
}

/** How long a fetched secret is reused before it is read again (rotation is picked up within this time). */
const SECRET_MAX_AGE_SECONDS = 300;

/**
 * Reads and validates the function's environment once, at init, and fails fast with every problem named.
 * @example
 * export const handler = createHandler(runtimeFromEnvironment(process.env));
 */
export function runtimeFromEnvironment(
  env: Record<string, string | undefined>,
  overrides: RuntimeOverrides = {},
): StageRuntime {
  const environment = parseEnvironment(env);
  const config = parseRuntimeConfig(environment.SLUICE_RUNTIME_CONFIG);
  const now = overrides.now ?? Date.now;
  // Traces only on Lambda: Powertools Tracer turns itself off anywhere else.
  const tracer = new Tracer({ serviceName: SERVICE_NAME });
  const dynamo =
    overrides.dynamo ??
    DynamoDBDocumentClient.from(tracer.captureAWSv3Client(new DynamoDBClient({})), {
      marshallOptions: { removeUndefinedValues: true },
    });
  const sqs = overrides.sqs ?? tracer.captureAWSv3Client(new SQSClient({}));
  const telemetry = new Telemetry({ stage: config.stage, sink: overrides.emf, tracer });
  const secrets =
    overrides.secrets === undefined ? undefined : new SecretsProvider({ awsSdkV3Client: overrides.secrets });
  const apiKey = overrides.apiKey ?? (() => apiKeyFromSecret(environment.LLM_API_KEY_SECRET_ARN, secrets));
  const logger = overrides.logger ?? new Logger({ serviceName: SERVICE_NAME, persistentKeys: { stage: config.stage } });
  const breakers = new Map<string, CircuitBreaker>();
  const breakerOptions = { ...config.breaker, probeLeaseMs: config.llm.timeoutMs + 5000, cacheMs: BREAKER_CACHE_MS };
  const ledger = new CallLedger(dynamo, environment.STATE_TABLE_NAME, config.retentionSeconds);
  return {
    config,
    items: new ItemStore(dynamo, environment.STATE_TABLE_NAME, now, config.retentionSeconds),
    ledger,
    outputTokens: new LearnedOutputTokens(ledger, config.stage, now, config.llm.learnMaxTokens),
    memory: new MemoryStore(dynamo, environment.MEMORY_TABLE_NAME),
    queues: new StageQueues(sqs, {
      own: environment.QUEUE_URL,
      next: environment.NEXT_QUEUE_URL,
      deadLetter: environment.DLQ_URL,
    }),
    llm:
      overrides.llm ??
      new OpenAiLlmClient({
        apiKey,
        baseUrl: config.llm.baseUrl,
        now,
        sdkRetries: overrides.sdkRetries,
        dialectOf: (model) => config.limits[model]?.headers ?? 'openai',
      }),
    limiter: new RateLimiter(
      dynamo,
      environment.STATE_TABLE_NAME,
      config.limits,
      largestOutputTokens(config) + LARGEST_PROMPT_TOKENS,
      now,
      (change) => {
        const below = (to: number | undefined, from: number | undefined) => (to ?? Infinity) < (from ?? Infinity);
        const lowered = below(change.to.rpm, change.from.rpm) || below(change.to.tpm, change.from.tpm);
        if (lowered) logger.warn('provider lowered its rate limits: pacing the model by them', { ...change });
        else logger.info('provider raised its rate limits: pacing the model by them', { ...change });
      },
    ),
    budget: new DailyBudget(dynamo, environment.STATE_TABLE_NAME, config.dailyBudgetUsd, now, config.retentionSeconds),
    breaker: (dependency) => {
      let breaker = breakers.get(dependency);
      if (breaker === undefined) {
        breaker = new CircuitBreaker(
          dynamo,
          environment.STATE_TABLE_NAME,
          dependency,
          breakerOptions,
          now,
          (change) => {
            logger.warn('circuit breaker changed state', change);
            if (change.to === 'open') telemetry.dependency(change.dependency, { BreakerOpened: 1 });
          },
        );
        breakers.set(dependency, breaker);
      }
      return breaker;
    },
    logger,
    now,
    telemetry,
    faults: overrides.faults,
  };
}

/** A breaker's record is read at most this often per instance on the healthy path. */
const BREAKER_CACHE_MS = 1000;
/** Prompt size the rate limiter's burst must always admit, on top of max_tokens. */
const LARGEST_PROMPT_TOKENS = 8000;

function parseEnvironment(env: Record<string, string | undefined>): StageEnvironment {
  const result = stageEnvironmentSchema.safeParse(env);
  if (!result.success) {
    throw new RuntimeConfigError(`invalid function environment: ${formatIssues(result.error)}`);
  }
  return result.data;
}

function parseRuntimeConfig(text: string): RuntimeConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new RuntimeConfigError('SLUICE_RUNTIME_CONFIG is not JSON', { cause: error });
  }
  const result = runtimeConfigSchema.safeParse(raw);
  if (!result.success) {
    throw new RuntimeConfigError(`invalid SLUICE_RUNTIME_CONFIG: ${formatIssues(result.error)}`);
  }
  return result.data;
}

const secretJsonSchema = z.object({ apiKey: z.string().min(1) });

/**
 * The LLM API key from its secret, cached for a few minutes: the secret holds the key as plain text or as JSON
 * `{"apiKey": "..."}`. Read through `provider` when given (e.g. one with the local runtime's client), else through
 * Powertools' default provider.
 * @throws {SecretUnavailableError} naming the secret when it cannot be read or holds no key (the item waits).
 * @example const key = await apiKeyFromSecret(process.env.LLM_API_KEY_SECRET_ARN);
 */
export async function apiKeyFromSecret(secretArn: string, provider?: SecretsProvider): Promise<string> {
  const options = { maxAge: SECRET_MAX_AGE_SECONDS };
  let value: unknown;
  try {
    value = await (provider === undefined ? getSecret(secretArn, options) : provider.get(secretArn, options));
  } catch (error) {
    // Deleted, denied, unreachable: the dependency's fault, not the item's, so the item waits (the alarm on the
    // SecretUnavailable metric calls someone) instead of spending its attempts and being dead-lettered.
    throw new SecretUnavailableError(
      secretArn,
      'unreadable',
      `cannot read the LLM API key from secret ${secretArn}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  if (typeof value !== 'string' || value.trim() === '') {
    throw new SecretUnavailableError(
      secretArn,
      'empty',
      `secret ${secretArn} has no string value: set the LLM API key in it`,
    );
  }
  try {
    const parsed = secretJsonSchema.safeParse(JSON.parse(value));
    if (parsed.success) return parsed.data.apiKey;
  } catch {
    // Not JSON: the secret is the key itself.
  }
  return value.trim();
}
