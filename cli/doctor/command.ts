import { parseArgs } from 'node:util';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { noPositionals, parsePositiveNumber } from '#cli/arguments.ts';
import { type CommandIo, PROCESS_IO, printJson, runOperatorCommand, writeLines } from '#cli/operator-command.ts';
import { EXIT, UsageError } from '#cli/usage-error.ts';
import { TARGET_HELP, TARGET_OPTIONS, type TargetRequest } from '#ops/target.ts';
import { type CheckStatus, DOCTOR_CHECKS, type DoctorReport } from './check.ts';
import { DEFAULT_CHECK_TIMEOUT_MS } from './context.ts';
import { runDoctorChecks, runPreDeployChecks } from './runner.ts';

/**
 * `sluice doctor`: checks a stack end to end, deployed or local, and says what is wrong and how to fix each
 * thing: the outputs, the queues and their redrive, the tables, the functions' permissions, the API key secret,
 * the provider with that key for every stage's model, the alarms, and the stages' event sources. The checks run
 * at once, each within its own time limit, so one endpoint that does not answer cannot hang the command.
 */

export const DOCTOR_HELP = `Usage: sluice doctor [--timeout SECONDS] [options]
       sluice doctor --pre-deploy [--region REGION] [--timeout SECONDS] [--json]

Checks the stack end to end and prints one line per check, with the problem and its fix under each failure:

  outputs        every output the stack defines is present (and, locally, the runtime's endpoints)
  queues         every queue exists, each working queue redrives to its DLQ, no DLQ holds messages
  tables         the state and memory tables exist and are ACTIVE
  permissions    each stage function's role may do what the stage needs (AWS only; see below)
  secret         the API key secret can be read and holds a key (its value is never printed)
  provider       one tiny call (1 completion token) per stage model with that key, from this machine
  alarms         the stack's alarms exist, and which are in ALARM (AWS only)
  event-sources  each stage's event source is enabled; a paused one says who paused it and why
  concurrency    the account has room for the reserved concurrency cdk.json asks for: Lambda keeps 10
                 unreserved, so a deploy reserving more than the quota less 10 fails (AWS only)

On AWS the role check simulates each stage role's identity policies (iam:SimulatePrincipalPolicy) for what the
stage needs: sending to its queues, the state table, the API key secret. Any access the operator's credentials
lack is itself reported, naming the permission.

Before the first deploy, --pre-deploy runs the concurrency check alone against the account and region (no stack
needed): a new account's quota of 10 leaves no room for the 9 executions the defaults reserve, and the fix is
"reservedConcurrencyEnabled": false in cdk.json.

Options:
  --timeout SECONDS    Time limit of each check (default 10, at most 300); a check past it names the endpoint
                       that did not answer.
  --pre-deploy         Check only the account's concurrency against cdk.json, before the stack exists (with
                       --region, --timeout and --json only).
${TARGET_HELP}
Exit codes: 0 healthy (every check ok or skipped); 1 problems found, or the target unreachable; 2 bad usage.

Examples:
  sluice doctor
  sluice doctor --stack Sluice --region eu-west-1
  sluice doctor --json | jq '.checks[] | select(.status == "problem")'
  sluice doctor --pre-deploy --region eu-west-1
`;

interface DoctorCommandOptions {
  timeoutMs: number;
  json: boolean;
  preDeploy: boolean;
  target: TargetRequest;
}

function parseDoctorArgs(args: string[]): DoctorCommandOptions | 'help' {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      ...TARGET_OPTIONS,
      timeout: { type: 'string', default: String(DEFAULT_CHECK_TIMEOUT_MS / 1000) },
      'pre-deploy': { type: 'boolean', default: false },
    },
  });
  if (values.help) return 'help';
  noPositionals(positionals);
  const preDeploy = values['pre-deploy'];
  if (preDeploy && (values.outputs !== undefined || values.stack !== undefined)) {
    throw new UsageError('--pre-deploy checks the account before the stack exists: it takes no --outputs or --stack');
  }
  return {
    timeoutMs: Math.round(parsePositiveNumber('--timeout', values.timeout, 300) * 1000),
    json: values.json,
    preDeploy,
    // The intake queue may be the very thing that is missing: the report says so rather than refusing to start.
    target: { outputs: values.outputs, stack: values.stack, region: values.region, reachOnly: true },
  };
}

/**
 * `sluice doctor`: returns the process exit code, 0 when healthy.
 * @example process.exitCode = await runDoctor(['--stack', 'Sluice', '--json']);
 */
export async function runDoctor(args: string[], io: CommandIo = PROCESS_IO): Promise<number> {
  const options = parseDoctorArgs(args);
  if (options !== 'help' && options.preDeploy) {
    const region = options.target.region;
    const lambda = new LambdaClient(region === undefined ? {} : { region });
    try {
      const report = await runPreDeployChecks(lambda, { timeoutMs: options.timeoutMs, region });
      printDoctorReport(
        report,
        `account in ${region ?? (await lambda.config.region())}, before deploying`,
        options,
        io,
      );
      return report.healthy ? EXIT.ok : EXIT.failure;
    } finally {
      lambda.destroy();
    }
  }
  return runOperatorCommand(
    'doctor',
    DOCTOR_HELP,
    options,
    async (target, options) => {
      const report = await runDoctorChecks(target, { timeoutMs: options.timeoutMs });
      printDoctorReport(report, target.description, options, io);
      return report.healthy ? EXIT.ok : EXIT.failure;
    },
    io,
  );
}

function printDoctorReport(report: DoctorReport, target: string, options: { json: boolean }, io: CommandIo): void {
  if (options.json) {
    printJson(report, io);
    return;
  }
  const terminal = (io.out as { isTTY?: boolean }).isTTY === true;
  writeLines(io.out, renderDoctorReport(report, target, terminal));
}

const MARKS: Record<CheckStatus, { terminal: string; plain: string }> = {
  ok: { terminal: '✓', plain: 'ok' },
  problem: { terminal: '✗', plain: 'PROBLEM' },
  skipped: { terminal: '–', plain: 'skipped' },
};

/**
 * The report as text: one line per check (✓ / ✗ / – on a terminal, the words ok / PROBLEM / skipped elsewhere),
 * each problem and its fix under a failed check, and a summary line.
 * @example io.out.write(`${renderDoctorReport(report, target.description, false).join('\n')}\n`);
 */
export function renderDoctorReport(report: DoctorReport, target: string, terminal: boolean): string[] {
  const width = Math.max(...DOCTOR_CHECKS.map((name) => name.length)) + 2;
  const markWidth = terminal ? 1 : Math.max(...Object.values(MARKS).map((mark) => mark.plain.length));
  const lines = [`sluice doctor: ${target}`, ''];
  for (const check of report.checks) {
    const mark = (terminal ? MARKS[check.status].terminal : MARKS[check.status].plain).padEnd(markWidth);
    const summary =
      check.status === 'problem'
        ? `${check.problems?.length ?? 1} problem${(check.problems?.length ?? 1) === 1 ? '' : 's'}`
        : check.status === 'skipped' && terminal
          ? `skipped: ${check.detail}`
          : check.detail;
    lines.push(`${mark} ${check.name.padEnd(width)}${summary}`);
    const indent = ' '.repeat(markWidth + 3);
    for (const finding of check.problems ?? []) {
      lines.push(`${indent}problem: ${finding.problem}`, `${indent}fix: ${finding.fix}`);
    }
    for (const note of check.notes ?? []) lines.push(`${indent}${note}`);
  }
  const count = (status: CheckStatus) => report.checks.filter((check) => check.status === status).length;
  const found = report.checks.reduce((sum, check) => sum + (check.problems?.length ?? 0), 0);
  lines.push(
    '',
    report.healthy
      ? `healthy: ${count('ok')} checks ok, ${count('skipped')} skipped`
      : `${found} problem${found === 1 ? '' : 's'} in ${count('problem')} of ${report.checks.length} checks (${count('ok')} ok, ${count('skipped')} skipped)`,
  );
  return lines;
}
