import { type EventSourceMappingConfiguration, GetEventSourceMappingCommand } from '@aws-sdk/client-lambda';
import { readSupervisorRecord } from '#functions/supervisor/supervisor.ts';
import { stageOutputKeys } from '#lib/outputs.ts';
import { CommandError } from '#ops/errors.ts';
import { errorText, type Target } from '#ops/target.ts';
import { stageOf } from '#shared/pipeline.ts';
import type { Stage } from '#shared/runtime-config.ts';
import {
  PAUSED_STATES,
  readControlRecord,
  StageControlError,
  type StageControlOptions,
  type StageControlOutcome,
  type StageControlRecord,
  setStagePaused,
} from '#shared/stage-control.ts';

/**
 * Pausing and resuming a stage through its event source mapping, with who did it and why, and reading the event
 * sources and the supervisor's view of them. For `sluice pause`/`resume`, `sluice status` and the console.
 */

/** Longest reason kept on a control record. */
export const MAX_REASON_LENGTH = 500;

export type { StageControlOutcome, StageControlRecord } from '#shared/stage-control.ts';

/** A stage's event source as `sluice status` shows it. */
export interface EventSourceStatus {
  stage: Stage;
  /** The mapping's UUID from the stack outputs; null when they have none. */
  mappingId: string | null;
  /** The mapping's State (`Enabled`, `Disabling`, `Disabled`, `Enabling`, `Updating`, ...); null when unknown. */
  state: string | null;
  /** Whether the mapping polls its queue (or is about to): `Enabled`, `Enabling`, `Updating` of an enabled one. */
  enabled: boolean | null;
  /** The mapping's ScalingConfig.MaximumConcurrency; null when it has none or it is unknown. */
  maxConcurrency: number | null;
  batchSize: number | null;
  /** Why the mapping could not be read. */
  note?: string | undefined;
  /** Who paused or resumed the stage last, and why; null when nobody has. */
  control: StageControlRecord | null;
  /** What the supervisor last did to the stage and when it last looked; null before its first look. */
  supervisor: SupervisorStatus | null;
}

/** The supervisor's view of a stage, as `sluice status` and the console show it. */
export interface SupervisorStatus {
  /** When it last looked (ISO 8601). */
  lookedAt: string | null;
  /** Why it paused the stage, while it keeps it paused. */
  pausedFor: 'provider' | 'budget' | null;
  /** Its last action on the stage: a pause, a resume, its verification, a concurrency change. */
  lastAction: { at: string; action: string; detail: string } | null;
  /** A resume it has not seen items flow after yet: since when. */
  verifyingSince: string | null;
}

/**
 * Stack output holding the UUID of a stage's event source mapping, e.g. `ExtractEventSourceMappingId`.
 * @throws {PipelineDefinitionError} for a stage the target's pipeline does not have.
 */
function mappingIdOutputKey(target: Target, stage: Stage): string {
  return stageOutputKeys(stageOf(target.pipeline, stage).constructId).eventSourceMappingId;
}

/**
 * Pauses a stage: disables its event source mapping (unless it is disabled already) and records who paused it
 * and why (see `setStagePaused`).
 * @throws {CommandError} when the mapping cannot be found, read or changed.
 * @example await pauseStage(target, 'extract', { by: 'operator', reason: 'provider outage', now: Date.now() });
 */
export async function pauseStage(
  target: Target,
  stage: Stage,
  options: StageControlOptions,
): Promise<StageControlOutcome> {
  return changeStage(target, stage, 'pause', options);
}

/**
 * Resumes a stage: enables its event source mapping (unless it is enabled already) and records the resume.
 * @throws {CommandError} when the mapping cannot be found, read or changed.
 * @example await resumeStage(target, 'extract', { by: 'operator', now: Date.now() });
 */
export async function resumeStage(
  target: Target,
  stage: Stage,
  options: StageControlOptions,
): Promise<StageControlOutcome> {
  return changeStage(target, stage, 'resume', options);
}

async function changeStage(
  target: Target,
  stage: Stage,
  action: 'pause' | 'resume',
  options: StageControlOptions,
): Promise<StageControlOutcome> {
  const { lambda, mappingId } = mappingOf(target, stage);
  try {
    return await setStagePaused(
      { lambda, dynamo: target.dynamo, tableName: target.stateTableName },
      stage,
      mappingId,
      action,
      options,
    );
  } catch (error) {
    if (error instanceof StageControlError) throw new CommandError(error.message, { cause: error });
    throw error;
  }
}

/** The Lambda client and the stage's mapping UUID, or a CommandError saying what the target lacks. */
function mappingOf(target: Target, stage: Stage): { lambda: NonNullable<Target['lambda']>; mappingId: string } {
  const key = mappingIdOutputKey(target, stage);
  const mappingId = target.outputs[key];
  if (mappingId === undefined || mappingId === '') {
    const fix = target.kind === 'local' ? "restart 'sluice dev'" : 'deploy the stack again (npx cdk deploy)';
    throw new CommandError(`the outputs of ${target.description} have no ${key}: ${fix} to get it`);
  }
  if (target.lambda === undefined) {
    throw new CommandError(
      `the outputs of ${target.description} name no LocalLambdaEndpoint: restart 'sluice dev', which serves the event source mappings`,
    );
  }
  return { lambda: target.lambda, mappingId };
}

/**
 * Each stage's event source mapping (state, maximum concurrency, batch size) and control record, for
 * `sluice status` and the console. A mapping that cannot be read is reported with a note, not as a failure.
 * @example const sources = await readEventSources(target);
 */
export async function readEventSources(target: Target): Promise<EventSourceStatus[]> {
  return Promise.all(
    target.pipeline.stages.map(async ({ name: stage }): Promise<EventSourceStatus> => {
      const [mapping, control, supervisor] = await Promise.all([
        readMapping(target, stage),
        readControlRecord(target.dynamo, target.stateTableName, stage),
        readSupervisorRecord(target.dynamo, target.stateTableName, stage),
      ]);
      const state = mapping.configuration?.State ?? null;
      return {
        stage,
        mappingId: mapping.mappingId,
        state,
        enabled: state === null ? null : !PAUSED_STATES.has(state),
        maxConcurrency: mapping.configuration?.ScalingConfig?.MaximumConcurrency ?? null,
        batchSize: mapping.configuration?.BatchSize ?? null,
        ...(mapping.note === undefined ? {} : { note: mapping.note }),
        control: control ?? null,
        supervisor:
          supervisor === undefined
            ? null
            : {
                lookedAt: supervisor.lookedAt ?? null,
                pausedFor: supervisor.pausedFor ?? null,
                lastAction: supervisor.lastAction ?? null,
                verifyingSince:
                  supervisor.verify === undefined ? null : new Date(supervisor.verify.since).toISOString(),
              },
      };
    }),
  );
}

async function readMapping(
  target: Target,
  stage: Stage,
): Promise<{ mappingId: string | null; configuration?: EventSourceMappingConfiguration; note?: string }> {
  const mappingId = target.outputs[mappingIdOutputKey(target, stage)];
  if (mappingId === undefined || mappingId === '') {
    return { mappingId: null, note: `no ${mappingIdOutputKey(target, stage)} in the outputs` };
  }
  if (target.lambda === undefined) return { mappingId, note: 'no LocalLambdaEndpoint in the outputs' };
  try {
    return {
      mappingId,
      configuration: await target.lambda.send(new GetEventSourceMappingCommand({ UUID: mappingId })),
    };
  } catch (error) {
    return { mappingId, note: `cannot read the mapping: ${errorText(error)}` };
  }
}
