import * as z from 'zod';
import { inRange, RANGES, SECONDS_TO_MS } from '#shared/config-ranges.ts';
import { modelPriceSchema, runtimeConfigSchema, stageSchema } from '#shared/runtime-config.ts';

/**
 * What the supervisor function needs at run time: its own settings, and for each stage the models it may call,
 * its configured concurrency (the ceiling of adaptive concurrency) and its largest call, with the prices, the
 * daily budget and the breaker settings the stages use. The stack derives it from the one config
 * (`supervisorConfigFor` in lib/config.ts) and sets it as `SLUICE_SUPERVISOR_CONFIG`.
 */

const stageRuntime = runtimeConfigSchema.shape;
const supervisor = RANGES.supervisor;

export const supervisedStageSchema = z
  .object({
    model: z.string().min(1),
    fallbackModel: z.string().min(1).optional(),
    /** Models some of its steps use instead of `model` (e.g. a cheaper reviewer). */
    stepModels: z.array(z.string().min(1)).optional(),
    /** The stage's configured event source maximum concurrency: adaptive concurrency never goes above it. */
    maxConcurrency: inRange(RANGES.stage.maxConcurrency),
    /** The smallest completion limit of its steps: what its cheapest call reserves at least. */
    maxOutputTokens: stageRuntime.maxOutputTokens,
  })
  .strict();
export type SupervisedStage = z.infer<typeof supervisedStageSchema>;

export const supervisorRuntimeConfigSchema = z
  .object({
    intervalMs: inRange(supervisor.intervalSeconds, SECONDS_TO_MS),
    pauseAfterMs: inRange(supervisor.pauseAfterSeconds, SECONDS_TO_MS),
    verifyMs: inRange(supervisor.verifySeconds, SECONDS_TO_MS),
    adaptiveConcurrency: z
      .object({
        enabled: z.boolean(),
        decreaseFactor: inRange(supervisor.adaptiveConcurrency.decreaseFactor),
        throttleRatio: inRange(supervisor.adaptiveConcurrency.throttleRatio),
        latencyFactor: inRange(supervisor.adaptiveConcurrency.latencyFactor),
      })
      .strict(),
    reenrich: z
      .object({
        enabled: z.boolean(),
        maxPerRun: inRange(supervisor.reenrich.maxPerRun),
        perSecond: inRange(supervisor.reenrich.perSecond),
        maxPerItem: inRange(supervisor.reenrich.maxPerItem),
      })
      .strict(),
    /** Every stage of the pipeline, by name. */
    stages: z.record(stageSchema, supervisedStageSchema),
    /** The stage whose items drafted without history are re-enriched, if the pipeline has one. */
    reenrichStage: stageSchema.optional(),
    llm: stageRuntime.llm,
    /** The memory store's lookup timeout: the supervisor's probe of the memory store has the drafts' patience. */
    memory: z.object({ lookupTimeoutMs: stageRuntime.memory.shape.lookupTimeoutMs }).strict(),
    prices: z.record(z.string().min(1), modelPriceSchema),
    dailyBudgetUsd: stageRuntime.dailyBudgetUsd,
    breaker: stageRuntime.breaker,
  })
  .strict();
export type SupervisorRuntimeConfig = z.infer<typeof supervisorRuntimeConfigSchema>;

/** Environment variables the stack sets on the supervisor function. */
export const supervisorEnvironmentSchema = z.object({
  STATE_TABLE_NAME: z.string().min(1),
  /** The memory table, which the supervisor probes (one lookup) while the memory breaker is open. */
  MEMORY_TABLE_NAME: z.string().min(1),
  LLM_API_KEY_SECRET_ARN: z.string().min(1),
  SLUICE_SUPERVISOR_CONFIG: z.string().min(2),
});
export type SupervisorEnvironment = z.infer<typeof supervisorEnvironmentSchema>;

/** Names of the variables above, for the stack that sets them. */
export const SUPERVISOR_ENVIRONMENT_KEYS = supervisorEnvironmentSchema.keyof().enum;

/**
 * The variables that wire the supervisor to one stage: its input queue (intake for extract), whose depth tells
 * whether a resumed stage drains, and the UUID of its SQS event source mapping, which the supervisor disables,
 * enables and scales.
 * @example supervisedStageKeys('draft') // { queueUrl: 'DRAFT_QUEUE_URL', mappingId: 'DRAFT_EVENT_SOURCE_MAPPING_ID' }
 */
export function supervisedStageKeys(stage: string): { queueUrl: string; mappingId: string } {
  const prefix = stage.toUpperCase().replaceAll('-', '_');
  return { queueUrl: `${prefix}_QUEUE_URL`, mappingId: `${prefix}_EVENT_SOURCE_MAPPING_ID` };
}
