import { Console } from 'node:console';
import { createWriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type { CheckResult } from '#local/chaos/check-result.ts';
import { type ChaosProgress, type ChaosReport, runChaos } from '#local/chaos/runner.ts';
import { loadScenario, type Scenario, ScenarioError } from '#local/chaos/scenario.ts';
import { ProgressView, renderSnapshot } from '#local/progress.ts';
import { printer } from './operator-command.ts';
import { EXIT, UsageError } from './usage-error.ts';

export const CHAOS_HELP = `Usage: sluice chaos --scenario FILE [options]

Runs a chaos scenario: the whole pipeline on the embedded emulators, as 'sluice dev' runs it, with every fault
of the scenario injected at once (provider rate limits, errors, hangs, malformed output and outages from the
LLM simulator; crashes at every crash point of the stages and lost deletes; memory-store outages; duplicate and
invalid items; an exhausted budget). Then it checks sluice's invariants from the outside (the state table, every
queue and DLQ, the simulator's counters) and prints one line per check.

Options:
  --scenario FILE    The scenario, a JSON file (see chaos/README.md and chaos/scenarios/).
  --report FILE      Write the full report as JSON: every check, counts, durations, the simulator's stats, the
                     crashes injected, and the state-table records of the items behind each failed check.
  --quiet            No progress while it runs: only the table of checks at the end.
  --log-file FILE    Append the functions' logs (level WARN) to FILE (default: no function logs).
  -h, --help         Show this help.

Exit codes: 0 every check passed; 1 a check failed or the run could not finish; 2 bad usage or an invalid
scenario (the message names the field).

Examples:
  npx sluice chaos --scenario chaos/scenarios/crashes.json
  npx sluice chaos --scenario chaos/scenarios/full-1000.json --report chaos-report.json
  npm run sluice -- chaos --scenario chaos/scenarios/provider-outage.json --quiet
`;

interface ChaosOptions {
  scenario: string;
  report?: string | undefined;
  quiet: boolean;
  logFile?: string | undefined;
}

/** @example parseChaosArgs(['--scenario', 'chaos/scenarios/crashes.json', '--quiet']) */
function parseChaosArgs(args: string[]): ChaosOptions | 'help' {
  const { values, positionals } = parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      scenario: { type: 'string' },
      report: { type: 'string' },
      quiet: { type: 'boolean', default: false },
      'log-file': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  if (values.scenario === undefined) throw new UsageError('--scenario FILE is required');
  return { scenario: values.scenario, report: values.report, quiet: values.quiet, logFile: values['log-file'] };
}

/**
 * `sluice chaos`: returns the process exit code.
 * @example process.exitCode = await runChaosCommand(['--scenario', 'chaos/scenarios/crashes.json']);
 */
export async function runChaosCommand(args: string[]): Promise<number> {
  const options = parseChaosArgs(args);
  if (options === 'help') {
    process.stdout.write(CHAOS_HELP);
    return EXIT.ok;
  }
  const print = printer();
  let scenario: Scenario;
  try {
    scenario = await loadScenario(resolve(options.scenario));
  } catch (error) {
    if (error instanceof ScenarioError) throw new UsageError(`${options.scenario}: ${error.message}`);
    throw error;
  }
  if (options.logFile) await captureFunctionLogs(resolve(options.logFile));

  if (!options.quiet)
    print(`sluice chaos: ${scenario.name}${scenario.description ? ` — ${scenario.description}` : ''}`);
  const view = new ProgressView();
  const report = await runChaos(scenario, {
    logLevel: options.logFile ? 'WARN' : 'SILENT',
    ...(!options.quiet && { onProgress: (progress: ChaosProgress) => view.show(progressLines(progress)) }),
  });
  if (options.report) {
    await mkdir(dirname(resolve(options.report)), { recursive: true });
    await writeFile(resolve(options.report), `${JSON.stringify(report, null, 2)}\n`);
  }
  printChecks(print, report);
  if (options.report) print(`report written to ${options.report}`);
  return report.ok ? EXIT.ok : EXIT.failure;
}

function progressLines(progress: ChaosProgress): string[] {
  if (progress.snapshot === undefined) {
    const what = {
      starting: 'starting the emulators and the stack',
      sending: 'sending the items',
      running: 'running',
      checking: 'checking',
    };
    return [`  ${what[progress.phase]}...`];
  }
  const sim = progress.simulator;
  const errors = Object.values(sim?.errorsServed ?? {}).reduce((sum, n) => sum + n, 0);
  const rateLimited = (sim?.rateLimited.requests ?? 0) + (sim?.rateLimited.tokens ?? 0);
  return [
    ...renderSnapshot(progress.snapshot, progress.total, progress.elapsedMs),
    `  chaos   crashes ${progress.crashes}  429s ${rateLimited}  errors ${errors}  hung ${sim?.hung ?? 0}  ` +
      `malformed ${sim?.malformed ?? 0}  provider ${progress.providerOutage ? 'DOWN' : 'up'}  memory ${progress.memoryDown ? 'DOWN' : 'up'}`,
  ];
}

function printChecks(print: (line?: string) => void, report: ChaosReport) {
  const failed = report.checks.filter((check) => !check.ok);
  const figure = (check: CheckResult) =>
    check.limit === null ? String(check.observed ?? '-') : `${check.observed ?? '-'} / ${check.limit}`;
  const nameWidth = Math.max(...report.checks.map((check) => check.name.length));
  const figureWidth = Math.max('observed / limit'.length, ...report.checks.map((check) => figure(check).length));
  print();
  print(`${'check'.padEnd(nameWidth + 7)}${'observed / limit'.padEnd(figureWidth + 2)}detail`);
  for (const check of report.checks) {
    const detail = check.ok && check.detail.length > 110 ? `${check.detail.slice(0, 107)}...` : check.detail;
    print(
      `${check.ok ? 'PASS' : 'FAIL'}   ${check.name.padEnd(nameWidth)} ${figure(check).padEnd(figureWidth)}  ${detail}`,
    );
  }
  for (const check of failed) {
    const items = report.evidence[check.name] ?? [];
    if (items.length === 0) continue;
    print();
    print(`${check.name}: items involved (see the report's evidence for their records)`);
    for (const item of items.slice(0, 5)) {
      const error = item.deadLetter ?? item.lastError;
      print(
        `  ${item.itemId}  ${item.state}${item.pendingCall ? `  pending ${item.pendingCall}` : ''}` +
          `${error ? `  ${error.stage} ${error.errorClass}: ${error.message.split('\n')[0]?.slice(0, 100)}` : ''}`,
      );
    }
  }
  const { counts, durations } = report;
  print();
  print(
    `items: ${counts.accepted} accepted (${counts.poison} invalid, ${counts.duplicatesSent} sent twice), ` +
      `${counts.byState.PUBLISHED} published, ${counts.byState.DEAD_LETTER} dead-lettered` +
      `${counts.parked > 0 ? `, ${counts.parked} waiting for the budget` : ''}; ` +
      `crashes injected: ${report.crashes.total}; llm: ${counts.llm.calls} calls, $${counts.llm.costUsd.toFixed(4)}`,
  );
  print(
    `${report.scenario.name}: ${report.checks.length - failed.length} of ${report.checks.length} checks passed ` +
      `(ran ${(durations.runMs / 1000).toFixed(1)} s, ${(durations.totalMs / 1000).toFixed(1)} s in all)` +
      (failed.length > 0 ? ` — FAILED: ${failed.map((check) => check.name).join(', ')}` : ''),
  );
}

/** The functions log as they would to CloudWatch; here that goes to a file so the progress view stays readable. */
async function captureFunctionLogs(file: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const stream = createWriteStream(file, { flags: 'a' });
  process.env.POWERTOOLS_DEV = 'true';
  globalThis.console = new Console({ stdout: stream, stderr: stream });
}
