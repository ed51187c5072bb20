import { parseArgs } from 'node:util';
import { PIPELINE } from '#functions/pipeline.ts';
import { MAX_REASON_LENGTH, pauseStage, resumeStage } from '#ops/stage-switch.ts';
import { TARGET_HELP, TARGET_OPTIONS, type TargetRequest } from '#ops/target.ts';
import type { Stage } from '#shared/runtime-config.ts';
import type { StageControlOutcome, StageControlRecord } from '#shared/stage-control.ts';
import {
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

const STAGE_NAMES = PIPELINE.stages.map((stage) => stage.name);
/** e.g. `extract or draft`. */
const STAGE_CHOICE = new Intl.ListFormat('en', { type: 'disjunction' }).format(STAGE_NAMES);
const [FIRST_STAGE, LAST_STAGE] = [STAGE_NAMES[0], STAGE_NAMES.at(-1)];

export const PAUSE_HELP = `Usage: sluice pause STAGE [--reason TEXT] [options]

Pauses a stage (${STAGE_CHOICE}) by disabling its SQS event source mapping: no new invocation starts, the
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
  sluice pause ${FIRST_STAGE} --reason "provider outage, see status page"
  sluice pause ${LAST_STAGE} --reason "budget spent" --stack Sluice --region eu-west-1
  sluice pause ${FIRST_STAGE} --json | jq .state
`;

export const RESUME_HELP = `Usage: sluice resume STAGE [options]

Resumes a paused stage (${STAGE_CHOICE}) by enabling its SQS event source mapping again: the function consumes
the messages that waited in its queue. Records the resume in the state table's control record (CONTROL#<stage>).
Resuming a stage that is not paused changes nothing, and says so.

Options:
${TARGET_HELP}
Exit codes: 0 resumed (or not paused); 1 the mapping could not be read or changed, or an unreachable target;
2 bad usage (an unknown stage).

Examples:
  sluice resume ${FIRST_STAGE}
  sluice resume ${LAST_STAGE} --stack Sluice --region eu-west-1 --json
`;

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
