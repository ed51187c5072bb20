import { parseArgs } from 'node:util';
import { type EventSourceMappingConfiguration, GetEventSourceMappingCommand } from '@aws-sdk/client-lambda';
import { PIPELINE } from '#functions/pipeline.ts';
import { readSupervisorRecord } from '#functions/supervisor/supervisor.ts';
import { stageOutputKeys } from '#lib/outputs.ts';
import { errorText, TARGET_HELP, TARGET_OPTIONS, type Target, type TargetRequest } from '#ops/target.ts';
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
import {
  CommandError,
  type CommandIo,
  PROCESS_IO,
  printer,
  printJson,
  runAgainstTarget,
  targetRequestOf,
} from './operator-command.ts';
import { EXIT, UsageError } from './usage-error.ts';

/**
 * `sluice pause STAGE` and `sluice resume STAGE`, over the stage control in functions/shared/stage-control.ts
 * that the supervisor's automatic pauses use too. `sluice status` and the console show each stage's event
 * source and control record (`readEventSources`).
 */

export const PAUSE_HELP = `Usage: sluice pause STAGE [--reason TEXT] [options]

Pauses a stage (extract or draft) by disabling its SQS event source mapping: no new invocation starts, the
invocations in flight finish, and the stage's messages wait in its queue (nothing is lost within the queue's
14-day retention). Records who paused it and why in the state table (CONTROL#<stage>), which 'sluice status'
and the console show. Pausing a paused stage changes nothing but the reason, and says so.

Use it when the stage can only wait: a provider outage, a spent budget, a bad deploy. Resume with 'sluice resume'.

Options:
  --reason TEXT        Why, for whoever looks next (up to 500 characters).
${TARGET_HELP}
Exit codes: 0 paused (or already paused); 1 the mapping could not be read or changed, or an unreachable target;
2 bad usage (an unknown stage).

Examples:
  sluice pause extract --reason "provider outage, see status page"
  sluice pause draft --reason "budget spent" --stack Sluice --region eu-west-1
  sluice pause extract --json | jq .state
`;

export const RESUME_HELP = `Usage: sluice resume STAGE [options]

Resumes a paused stage (extract or draft) by enabling its SQS event source mapping again: the function consumes
the messages that waited in its queue. Records the resume in the state table's control record (CONTROL#<stage>).
Resuming a stage that is not paused changes nothing, and says so.

Options:
${TARGET_HELP}
Exit codes: 0 resumed (or not paused); 1 the mapping could not be read or changed, or an unreachable target;
2 bad usage (an unknown stage).

Examples:
  sluice resume extract
  sluice resume draft --stack Sluice --region eu-west-1 --json
`;

/** Longest reason kept on a control record. */
const MAX_REASON_LENGTH = 500;

export type { ControlledBy, StageControlOutcome, StageControlRecord } from '#shared/stage-control.ts';
export { controlRecordKey, readControlRecord } from '#shared/stage-control.ts';

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

interface StageCommandOptions {
  stage: Stage;
  reason: string | undefined;
  json: boolean;
  target: TargetRequest;
}

function parseStageCommandArgs(action: 'pause' | 'resume', args: string[]): StageCommandOptions | 'help' {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: { ...TARGET_OPTIONS, ...(action === 'pause' ? { reason: { type: 'string' } } : {}) },
  });
  if (values.help) return 'help';
  const [stage, extra] = positionals;
  const stages = PIPELINE.stages.map(({ name }) => name);
  if (stage === undefined) throw new UsageError(`name the stage to ${action}: ${stages.join(' or ')}`);
  if (extra !== undefined) throw new UsageError(`unexpected argument '${extra}'`);
  if (!stages.includes(stage)) {
    throw new UsageError(`unknown stage '${stage}': the stages are ${stages.join(' and ')}`);
  }
  const reason = 'reason' in values && typeof values.reason === 'string' ? values.reason.trim() : undefined;
  if (reason !== undefined && (reason === '' || reason.length > MAX_REASON_LENGTH)) {
    throw new UsageError(`--reason must be 1 to ${MAX_REASON_LENGTH} characters (got ${reason.length})`);
  }
  return {
    stage,
    reason,
    json: values.json,
    target: targetRequestOf(values),
  };
}

/**
 * `sluice pause STAGE`: returns the process exit code.
 * @example process.exitCode = await runPause(['extract', '--reason', 'provider outage']);
 */
export async function runPause(args: string[], io: CommandIo = PROCESS_IO): Promise<number> {
  return runStageCommand('pause', args, io);
}

/**
 * `sluice resume STAGE`: returns the process exit code.
 * @example process.exitCode = await runResume(['extract']);
 */
export async function runResume(args: string[], io: CommandIo = PROCESS_IO): Promise<number> {
  return runStageCommand('resume', args, io);
}

async function runStageCommand(action: 'pause' | 'resume', args: string[], io: CommandIo): Promise<number> {
  const options = parseStageCommandArgs(action, args);
  if (options === 'help') {
    io.out.write(action === 'pause' ? PAUSE_HELP : RESUME_HELP);
    return EXIT.ok;
  }
  return runAgainstTarget(
    action,
    options.target,
    async (target) => {
      const change = action === 'pause' ? pauseStage : resumeStage;
      const outcome = await change(target, options.stage, { by: 'operator', reason: options.reason, now: Date.now() });
      if (options.json) printJson(outcome, io);
      else describeOutcome(outcome, printer(io));
      return EXIT.ok;
    },
    io,
  );
}

function describeOutcome(outcome: StageControlOutcome, print: (line?: string) => void): void {
  const { stage, control } = outcome;
  const mapping = `event source mapping ${outcome.mappingId}`;
  if (outcome.action === 'pause') {
    print(
      outcome.changed
        ? `${stage} paused: ${mapping} is ${outcome.state}; invocations in flight finish, new messages wait in the queue`
        : `${stage} was already paused: ${mapping} is ${outcome.state}`,
    );
  } else {
    print(
      outcome.changed
        ? `${stage} resumed: ${mapping} is ${outcome.state}; the function consumes the messages that waited`
        : `${stage} was not paused: ${mapping} is ${outcome.state}`,
    );
  }
  print(`  ${describeControl(control)}`);
}

/**
 * One line about a control record. @example describeControl(record) // 'paused by operator at 2026-11-21 08:55:12Z: provider outage'
 */
export function describeControl(control: StageControlRecord): string {
  const at = control.at === '' ? '' : ` at ${control.at.slice(0, 19).replace('T', ' ')}Z`;
  const reason = control.reason === undefined ? '' : `: ${control.reason}`;
  return `${control.paused ? 'paused' : 'resumed'} by ${control.by}${at}${reason}`;
}
