import * as z from 'zod';
import { DAYS_TO_SECONDS, HOURS_TO_MS, inRange, PERCENT_TO_RATIO, RANGES, SECONDS_TO_MS } from './config-ranges.ts';
import { RATE_LIMIT_DIALECTS, TOKEN_COUNTINGS } from './provider-limits.ts';

/**
 * What a stage function needs to know at run time, beyond resource names. The stack derives it from the
 * validated `cdk.json` config (lib/config.ts) and passes it as JSON in `SLUICE_RUNTIME_CONFIG`; the function
 * parses it once at init and fails fast on anything wrong.
 */

/** A stage's name, as the pipeline (functions/pipeline.ts) defines it. */
export const stageSchema = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/);
export type Stage = z.infer<typeof stageSchema>;

const stateSchema = z.string().regex(/^[A-Z][A-Z0-9_]{0,31}$/);

/** Price of a model in US dollars per million tokens. */
export const modelPriceSchema = z
  .object({
    inputPerMillionUsd: inRange(RANGES.price.perMillionUsd),
    outputPerMillionUsd: inRange(RANGES.price.perMillionUsd),
  })
  .strict();
export type ModelPrice = z.infer<typeof modelPriceSchema>;

export const runtimeConfigSchema = z
  .object({
    stage: stageSchema,
    /** The item states this stage reads and writes (functions/shared/pipeline.ts `stageStatesOf`). */
    states: z
      .object({
        ready: stateSchema,
        working: z.array(stateSchema).min(1),
        done: stateSchema,
        earlier: z.array(stateSchema),
      })
      .strict(),
    /** Model for this stage's calls (a step without a model of its own uses it). */
    model: z.string().min(1),
    /** Model used while the primary model's breaker is open; none means defer instead. */
    fallbackModel: z.string().min(1).optional(),
    /** Upper bound of completion tokens per call (sent as max_tokens, reserved before each call). */
    maxOutputTokens: inRange(RANGES.stage.maxOutputTokens),
    /** Model and completion limit of each LLM step, by step name; a step not named uses the stage's. */
    steps: z.record(
      z.string().min(1),
      z.object({ model: z.string().min(1), maxOutputTokens: inRange(RANGES.stage.maxOutputTokens) }).strict(),
    ),
    /** Draft stage: how many redrafts after a rejected review. */
    maxRevisions: inRange(RANGES.stage.maxRevisions),
    llm: z
      .object({
        /** Any OpenAI-compatible server; undefined means the SDK's default (api.openai.com). */
        baseUrl: z.url().optional(),
        /** Per-call timeout; always capped by the time left in the invocation. */
        timeoutMs: inRange(RANGES.llm.timeoutSeconds, SECONDS_TO_MS),
        /** Ask for the learned completion size of each step rather than its maximum (completion-sizes.ts). */
        learnMaxTokens: z.boolean(),
      })
      .strict(),
    prices: z.record(z.string().min(1), modelPriceSchema),
    /** Most tokens (prompt + completion, all calls, both stages) one item may use. */
    itemTokenBudget: inRange(RANGES.itemTokenBudget),
    /** Most US dollars all calls of one UTC day may cost. */
    dailyBudgetUsd: inRange(RANGES.dailyBudgetUsd),
    /** How long settled items, ledger rows and a day's usage and budget records are kept (their `expiresAt`). */
    retentionSeconds: inRange(RANGES.retentionDays, DAYS_TO_SECONDS),
    /** Real failed attempts per item and stage before the handler dead-letters the item. */
    maxAttempts: inRange(RANGES.maxAttempts),
    memory: z
      .object({
        lookupTimeoutMs: inRange(RANGES.memory.lookupTimeoutMs),
        maxRelated: inRange(RANGES.memory.maxRelated),
      })
      .strict(),
    /** Provider limits per model, enforced by the shared rate limiter; a model without an entry is unlimited. */
    limits: z.record(
      z.string().min(1),
      z
        .object({
          rpm: inRange(RANGES.limits.rpm).optional(),
          tpm: inRange(RANGES.limits.tpm).optional(),
          /** How the provider counts tokens against `tpm`: at admission (OpenAI's documented rule) or by usage. */
          tokenCounting: z.enum(TOKEN_COUNTINGS).optional(),
          /** The rate-limit headers the provider sends. */
          headers: z.enum(RATE_LIMIT_DIALECTS).optional(),
        })
        .strict(),
    ),
    retry: z
      .object({
        baseDelayMs: inRange(RANGES.retry.baseDelayMs),
        maxDelayMs: inRange(RANGES.retry.maxDelayMs),
        maxInProcessWaitMs: inRange(RANGES.retry.maxInProcessWaitMs),
        /** Longest an item may keep waiting (rate limit, breaker, budget) in one stage before it is dead-lettered. */
        maxDeferralMs: inRange(RANGES.retry.maxDeferralHours, HOURS_TO_MS),
      })
      .strict(),
    /** Circuit breakers, one per model and one for the memory store. */
    breaker: z
      .object({
        failureThreshold: inRange(RANGES.breaker.failureThreshold),
        windowMs: inRange(RANGES.breaker.windowSeconds, SECONDS_TO_MS),
        minCalls: inRange(RANGES.breaker.minCalls),
        failureRate: inRange(RANGES.breaker.failureRatePercent, PERCENT_TO_RATIO),
        cooldownMs: inRange(RANGES.breaker.cooldownSeconds, SECONDS_TO_MS),
      })
      .strict(),
  })
  .strict()
  .superRefine((config, ctx) => {
    const stepModels = Object.values(config.steps).map((step) => step.model);
    for (const model of [config.model, config.fallbackModel, ...stepModels]) {
      if (model !== undefined && config.prices[model] === undefined) {
        ctx.addIssue({ code: 'custom', path: ['prices'], message: `no price configured for model "${model}"` });
      }
    }
  });
export type RuntimeConfig = z.infer<typeof runtimeConfigSchema>;

/** The model and completion limit of one LLM step of the stage. */
export function stepSettings(config: RuntimeConfig, step: string): { model: string; maxOutputTokens: number } {
  return config.steps[step] ?? { model: config.model, maxOutputTokens: config.maxOutputTokens };
}

/** The largest completion any step of the stage may ask for. */
export function largestOutputTokens(config: Pick<RuntimeConfig, 'maxOutputTokens' | 'steps'>): number {
  return Math.max(config.maxOutputTokens, ...Object.values(config.steps).map((step) => step.maxOutputTokens));
}

/** Environment variables the stack sets on every stage function. */
export const stageEnvironmentSchema = z.object({
  STATE_TABLE_NAME: z.string().min(1),
  MEMORY_TABLE_NAME: z.string().min(1),
  /** The stage's own input queue: messages that must wait are sent back to it with a delay. */
  QUEUE_URL: z.string().min(1),
  NEXT_QUEUE_URL: z.string().min(1),
  DLQ_URL: z.string().min(1),
  LLM_API_KEY_SECRET_ARN: z.string().min(1),
  SLUICE_RUNTIME_CONFIG: z.string().min(2),
});
export type StageEnvironment = z.infer<typeof stageEnvironmentSchema>;

/** Names of the variables above, for the stack that sets them. */
export const STAGE_ENVIRONMENT_KEYS = stageEnvironmentSchema.keyof().enum;
