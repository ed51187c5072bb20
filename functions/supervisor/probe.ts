import type { Logger } from '@aws-lambda-powertools/logger';
import { type DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { DailyBudget } from '#shared/budget.ts';
import { costNanoUsd } from '#shared/call-ledger.ts';
import type { CircuitBreaker } from '#shared/circuit-breaker.ts';
import {
  BreakerOpenError,
  BudgetExhaustedError,
  describeError,
  errorText,
  failureLogFields,
  LlmCallError,
} from '#shared/errors.ts';
import type { LlmProber } from '#shared/llm-client.ts';
import type { RateLimiter } from '#shared/rate-limiter.ts';
import type { Stage } from '#shared/runtime-config.ts';
import type { Telemetry } from '#shared/telemetry.ts';
import { supervisorBreaker } from './breakers.ts';
import type { SupervisorRuntimeConfig } from './runtime-config.ts';

/** How long the limiter holds a model after a probe answered 429 without saying for how long. */
const DEFAULT_429_WAIT_MS = 1000;

export interface ProbeContext {
  config: SupervisorRuntimeConfig;
  dynamo: DynamoDBDocumentClient;
  tableName: string;
  prober: LlmProber;
  logger: Logger;
  budget: DailyBudget;
  /** Only for holds after a 429 (the stages' limiter reads them); the supervisor reserves nothing. */
  limiter: RateLimiter;
  now: () => number;
}

/**
 * One probe of a model through its breaker: only when the breaker lets a prober in (its cooldown over), and as
 * that one prober, so the answer closes the breaker for every stage. The call's cost is reserved from the daily
 * budget and recorded under `PROBE#<day>`. Returns why the model is healthy, or undefined.
 * @example const healthy = await probeModel(context, 'draft', 'gpt-4.1-mini', telemetry);
 */
export async function probeModel(
  context: ProbeContext,
  stage: Stage,
  model: string,
  telemetry: Telemetry,
): Promise<string | undefined> {
  const { config, logger, budget, now } = context;
  const breaker = supervisorBreaker(context, model, config.llm.timeoutMs);
  const state = await breaker.state();
  if (state.state === 'closed') return `${model}'s breaker is closed`;
  let permit: Awaited<ReturnType<CircuitBreaker['acquire']>>;
  try {
    permit = await breaker.acquire(`supervisor#${stage}`);
  } catch (error) {
    if (error instanceof BreakerOpenError) return undefined;
    throw error;
  }
  let reservation: Awaited<ReturnType<DailyBudget['reserve']>>;
  const price = config.prices[model];
  try {
    // A few prompt tokens and one completion token: reserve a generous worst case.
    reservation = await budget.reserve(price ? costNanoUsd(price, 64, 1) : 0);
  } catch (error) {
    await breaker.release(permit);
    if (error instanceof BudgetExhaustedError) return undefined;
    throw error;
  }
  const record = (outcome: ProbeOutcome) => recordProbe(context, stage, model, outcome);
  telemetry.dependency(model, { ProbeCalls: 1 });
  try {
    const answer = await context.prober.probe({ model, timeoutMs: config.llm.timeoutMs, caller: 'supervisor' });
    const cost = price ? costNanoUsd(price, answer.promptTokens, answer.completionTokens) : 0;
    await Promise.all([
      budget.settle(reservation, cost),
      breaker.onSuccess(permit),
      record({
        outcome: 'ok',
        latencyMs: answer.latencyMs,
        promptTokens: answer.promptTokens,
        completionTokens: answer.completionTokens,
        costNanoUsd: cost,
      }),
    ]);
    return `probe of ${model} answered in ${answer.latencyMs} ms`;
  } catch (error) {
    if (error instanceof LlmCallError && error.status === 429) {
      // The provider answered: it is up, only busy. The breaker closes and the stage resumes; the shared
      // limiter holds every caller until the Retry-After, and then paces them, rather than the stage staying
      // paused until a probe happens to find the provider idle.
      const retryAfterMs = error.retryAfterMs ?? DEFAULT_429_WAIT_MS;
      await Promise.all([
        budget.settle(reservation, 0),
        breaker.onSuccess(permit),
        context.limiter.holdUntil(model, now() + retryAfterMs),
        record({ outcome: 'throttled', ...NOTHING_SPENT, error: errorText(error) }),
      ]);
      return `probe of ${model} answered 429 (the provider is up; calls held ${Math.round(retryAfterMs / 1000)} s by the limiter)`;
    }
    telemetry.dependency(model, { ProbeFailures: 1 });
    const providerFault = error instanceof LlmCallError && error.isProviderFailure;
    await Promise.all([
      budget.settle(reservation, 0),
      providerFault ? breaker.onFailure(permit) : breaker.release(permit),
      record({ outcome: 'failed', ...NOTHING_SPENT, error: errorText(error) }),
    ]);
    logger.warn('probe failed: the stage stays paused', { stage, model, ...failureLogFields(describeError(error)) });
    return undefined;
  }
}

interface ProbeOutcome {
  outcome: 'ok' | 'throttled' | 'failed';
  latencyMs: number;
  promptTokens: number;
  completionTokens: number;
  costNanoUsd: number;
  error?: string;
}

const NOTHING_SPENT = { latencyMs: 0, promptTokens: 0, completionTokens: 0, costNanoUsd: 0 } as const;

/** Probe calls are kept in their own partition per day (`PROBE#<day>`): they belong to no item. */
async function recordProbe(
  { dynamo, tableName, now }: ProbeContext,
  stage: Stage,
  model: string,
  probe: ProbeOutcome,
): Promise<void> {
  const at = new Date(now()).toISOString();
  const { outcome, latencyMs, promptTokens, completionTokens, costNanoUsd, error } = probe;
  await dynamo.send(
    new PutCommand({
      TableName: tableName,
      Item: {
        pk: `PROBE#${at.slice(0, 10)}`,
        sk: `${at}#${stage}#${model}`,
        stage,
        model,
        outcome,
        latencyMs,
        promptTokens,
        completionTokens,
        costNanoUsd,
        at,
        ...(error === undefined ? {} : { error }),
      },
    }),
  );
}
