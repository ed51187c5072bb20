import type { Logger } from '@aws-lambda-powertools/logger';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { CircuitBreaker } from '#shared/circuit-breaker.ts';
import type { SupervisorRuntimeConfig } from './runtime-config.ts';

/** What the supervisor builds a dependency's breaker from. */
export interface BreakerContext {
  config: SupervisorRuntimeConfig;
  dynamo: DynamoDBDocumentClient;
  tableName: string;
  logger: Logger;
  now: () => number;
}

/** How long a probe's lease outlasts the probe call's own time limit. */
const PROBE_LEASE_MARGIN_MS = 5000;

/**
 * A dependency's breaker (a model, the memory store) as the supervisor uses it: the stages' settings, its state
 * read fresh at every look (no cache), and a probe lease of the probe call's time limit plus a margin.
 * @example const breaker = supervisorBreaker(context, 'gpt-4o-mini', context.config.llm.timeoutMs);
 */
export function supervisorBreaker(context: BreakerContext, dependency: string, probeTimeoutMs: number): CircuitBreaker {
  const { config, dynamo, tableName, logger, now } = context;
  return new CircuitBreaker(
    dynamo,
    tableName,
    dependency,
    { ...config.breaker, probeLeaseMs: probeTimeoutMs + PROBE_LEASE_MARGIN_MS, cacheMs: 0 },
    now,
    (change) => logger.info('circuit breaker changed state', change),
  );
}
