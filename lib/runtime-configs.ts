import { PIPELINE } from '#functions/pipeline.ts';
import { type SupervisorRuntimeConfig, supervisorRuntimeConfigSchema } from '#functions/supervisor/runtime-config.ts';
import { DAYS_TO_SECONDS, HOURS_TO_MS, SECONDS_TO_MS } from '#shared/config-ranges.ts';
import { type Pipeline, reenrichingStageOf, stageStatesOf } from '#shared/pipeline.ts';
import { type RuntimeConfig, runtimeConfigSchema, type Stage } from '#shared/runtime-config.ts';
import { ConfigError, describeIssues, type SluiceConfig, type StageConfig, stageConfigOf, stepsOf } from './config.ts';

/**
 * What each function takes at run time, derived from the config: its settings in the units the function uses
 * (milliseconds, ratios) and checked against the function's own schema at synth, so a config a function would
 * reject never deploys.
 */

/** The LLM settings as the functions take them (milliseconds). */
function llmRuntime(config: SluiceConfig): RuntimeConfig['llm'] {
  return {
    ...(config.llm.baseUrl === undefined ? {} : { baseUrl: config.llm.baseUrl }),
    timeoutMs: config.llm.timeoutSeconds * SECONDS_TO_MS,
    learnMaxTokens: config.llm.learnMaxTokens,
  };
}

/** The circuit breakers' settings as the functions take them (milliseconds). */
function breakerRuntime(config: SluiceConfig): RuntimeConfig['breaker'] {
  return {
    failureThreshold: config.breaker.failureThreshold,
    windowMs: config.breaker.windowSeconds * SECONDS_TO_MS,
    minCalls: config.breaker.minCalls,
    // Divided, not multiplied by PERCENT_TO_RATIO: 57 / 100 is 0.57, 57 * 0.01 is 0.5700000000000001.
    failureRate: config.breaker.failureRatePercent / 100,
    cooldownMs: config.breaker.cooldownSeconds * SECONDS_TO_MS,
  };
}

/**
 * What one stage function needs at run time, validated with the runtime's own schema, so a config the
 * function would reject fails synth instead.
 * @throws {ConfigError} if the runtime schema rejects the derived config.
 * @example
 * const json = JSON.stringify(runtimeConfigFor(config, 'draft'));
 */
export function runtimeConfigFor(config: SluiceConfig, stage: Stage, pipeline: Pipeline = PIPELINE): RuntimeConfig {
  const settings = stageConfigOf(config, stage);
  const candidate: RuntimeConfig = {
    stage,
    states: stageStatesOf(pipeline, stage),
    model: settings.model,
    ...(config.llm.fallbackModel === undefined ? {} : { fallbackModel: config.llm.fallbackModel }),
    maxOutputTokens: settings.maxOutputTokens,
    steps: stepsOf(settings),
    maxRevisions: settings.maxRevisions ?? 0,
    llm: llmRuntime(config),
    prices: config.prices,
    itemTokenBudget: config.itemTokenBudget,
    dailyBudgetUsd: config.dailyBudgetUsd,
    retentionSeconds: config.retentionDays * DAYS_TO_SECONDS,
    maxAttempts: config.maxAttempts,
    memory: { lookupTimeoutMs: config.memory.lookupTimeoutMs, maxRelated: config.memory.maxRelated },
    limits: config.limits,
    retry: {
      baseDelayMs: config.retry.baseDelayMs,
      maxDelayMs: config.retry.maxDelayMs,
      maxInProcessWaitMs: config.retry.maxInProcessWaitMs,
      maxDeferralMs: config.retry.maxDeferralHours * HOURS_TO_MS,
    },
    breaker: breakerRuntime(config),
  };
  const parsed = runtimeConfigSchema.safeParse(candidate);
  if (!parsed.success) {
    throw new ConfigError(
      describeIssues(parsed.error.issues).map((problem) => `runtime config of stage ${stage}: ${problem}`),
      { cause: parsed.error },
    );
  }
  return parsed.data;
}

/**
 * What the supervisor function needs at run time, validated with its own schema.
 * @throws {ConfigError} if the supervisor's schema rejects the derived config.
 * @example
 * const json = JSON.stringify(supervisorConfigFor(config));
 */
export function supervisorConfigFor(config: SluiceConfig, pipeline: Pipeline = PIPELINE): SupervisorRuntimeConfig {
  const { supervisor } = config;
  const stage = (settings: StageConfig) => {
    const steps = Object.values(stepsOf(settings));
    const stepModels = [...new Set(steps.map((step) => step.model))].filter((model) => model !== settings.model);
    return {
      model: settings.model,
      ...(config.llm.fallbackModel === undefined ? {} : { fallbackModel: config.llm.fallbackModel }),
      ...(stepModels.length === 0 ? {} : { stepModels }),
      maxConcurrency: settings.maxConcurrency,
      maxOutputTokens: Math.min(settings.maxOutputTokens, ...steps.map((step) => step.maxOutputTokens)),
    };
  };
  const reenrichStage = reenrichingStageOf(pipeline)?.name;
  const candidate: SupervisorRuntimeConfig = {
    intervalMs: supervisor.intervalSeconds * SECONDS_TO_MS,
    pauseAfterMs: supervisor.pauseAfterSeconds * SECONDS_TO_MS,
    verifyMs: supervisor.verifySeconds * SECONDS_TO_MS,
    adaptiveConcurrency: { ...supervisor.adaptiveConcurrency },
    reenrich: { ...supervisor.reenrich },
    stages: Object.fromEntries(pipeline.stages.map(({ name }) => [name, stage(stageConfigOf(config, name))])),
    ...(reenrichStage === undefined ? {} : { reenrichStage }),
    llm: llmRuntime(config),
    memory: { lookupTimeoutMs: config.memory.lookupTimeoutMs },
    prices: config.prices,
    dailyBudgetUsd: config.dailyBudgetUsd,
    breaker: breakerRuntime(config),
  };
  const parsed = supervisorRuntimeConfigSchema.safeParse(candidate);
  if (!parsed.success) {
    throw new ConfigError(
      describeIssues(parsed.error.issues).map((problem) => `runtime config of the supervisor: ${problem}`),
      { cause: parsed.error },
    );
  }
  return parsed.data;
}
