import { Console } from 'node:console';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseIntakeMessage } from '#functions/extract/extract.ts';
import { ConfigError, type SluiceConfig } from '#lib/config.ts';
import { type ConfigLayer, loadLayeredConfig, mergeDeep, settingAssignment } from '#lib/config-layers.ts';
import { STACK_NAME } from '#lib/template.ts';
import {
  cdkJsonConfig,
  type DevRuntime,
  localOutputs,
  PORTS_TAKEN,
  PortInUseError,
  startDevRuntime,
} from '#local/dev-runtime.ts';
import { LocalMetrics, type MetricsSummary, summariseMetrics } from '#local/local-metrics.ts';
import {
  IdleNotice,
  ProgressView,
  queuedForStages,
  queueLabelsOf,
  readSnapshot,
  renderSnapshot,
} from '#local/progress.ts';
import { collectRunReport, type RunReport, readUsageRows } from '#local/run-report.ts';
import { sendBodies } from '#ops/queue-io.ts';
import { countIn, DEAD_LETTER, DISCARDED, PUBLISHED } from '#shared/pipeline.ts';
import { printer } from './operator-command.ts';
import { EXIT, UsageError } from './usage-error.ts';

export const DEV_HELP = `Usage: sluice dev [options]

Runs the whole pipeline on this machine: SQS (fauxqs) and DynamoDB (dynalite) in-process, the resources the
stack defines (from the synthesized template), the real extract and draft handlers behind pollers that behave
like the Lambda SQS event source, and an OpenAI-compatible LLM simulator (or a real provider when
OPENAI_API_KEY is set; OPENAI_BASE_URL picks any OpenAI-compatible server). It prints the endpoints and writes
them, with the stack's output keys, to an outputs file so any AWS SDK client can drop items on the intake queue.
The supervisor runs on a timer (every supervisor.intervalSeconds of cdk.json): it pauses a stage whose model stays
down, probes and resumes it, adapts each stage's concurrency and re-queues items drafted without history; its log
lines go with the functions' ('sluice status' shows what it last did).

Without --once it runs until Ctrl-C, saying when the pipeline becomes idle (every item settled, nothing queued for a
stage). A queue of the stack deleted under it is reported once and the rest runs on ('sluice doctor' names it;
a restart creates it again). Ctrl-C lets the invocations in flight finish (a second Ctrl-C quits at once), then
sums up: items whose messages are still queued are in progress, not lost, and the functions' LLM metrics are checked
against the usage this run added to the state table.

With --bundles the functions run from the bundles a synth with bundling builds (local esbuild, what 'cdk deploy'
uploads), each in an execution environment of its own (a worker thread with its own process.env, the template's
variables mapped to the local services), instead of from the TypeScript sources; the supervisor's bundle is invoked
on its schedule. Test hooks that reach into the functions' process (crash injection, fake clocks, a replaced LLM
client) apply to the sources only.

Options:
  --once               Drain the items and exit (0 when nothing was lost, 1 otherwise).
  --report FILE        Write a JSON summary: items by final state, in progress, lost, tokens and $ by stage and
                       model (every run's in the state table, and this run's).
  --items FILE         JSONL file of items to enqueue at start (default: the bundled samples).
  --no-samples         Enqueue nothing at start; wait for items from outside.
  --data-dir DIR       Keep queues and tables in DIR across restarts (default: in memory).
  --port-base N        Listen on fixed ports: SQS on N, DynamoDB on N+1, the Lambda and Secrets Manager API on
                       N+2, the LLM simulator on N+3 (default: any free ports, new at every start). The queue
                       URLs hold the SQS port, so with a port base they stay the same across restarts.
  --outputs FILE       Where to write the outputs file (default: .sluice/outputs.json).
  --latency MS|MIN-MAX Simulator latency per call (default 50-250).
  --timeout SECONDS    With --once, give up after this long (default 600).
  --log-level LEVEL    Functions' log level: DEBUG, INFO, WARN, ERROR (default WARN).
  --logs               Print function logs here instead of to .sluice/functions.log.
  --bundles            Run the synthesized function bundles (built under .sluice/bundles, removed on exit)
                       instead of the TypeScript sources.
  --config FILE        A JSON file of sluice settings merged over cdk.json's (key by key, as in the context's
                       "sluice" object), for this run only.
  --set KEY.PATH=VALUE One setting over cdk.json's and --config's (repeatable, applied in order); VALUE is read
                       as JSON when it parses (2, true, "x", {...}), else as a string. A key with a dot in it (a
                       model under prices) is set with its parent: --set 'prices={"gpt-4.1-mini":{...}}'.
  --print-config       Print the effective settings (cdk.json, --config, --set, defaults filled in) as JSON and
                       exit without starting anything.
  -h, --help           Show this help.

Examples:
  npm start                                   # the bundled ~50 items, live progress, Ctrl-C to stop
  npm start -- --once --report r.json         # drain them, write a report, exit
  npx sluice dev --no-samples --data-dir .sluice/data --port-base 4566   # same endpoints at every restart
  OPENAI_API_KEY=sk-... npx sluice dev --once # a real provider
  npx sluice dev --bundles --once             # the samples through the bundles cdk deploy would upload
  npx sluice dev --set stages.extract.maxConcurrency=2 --set dailyBudgetUsd=1 --print-config
`;

const SAMPLES = new URL('../samples/items.jsonl', import.meta.url);
const REFRESH_MS = 500;

interface DevOptions {
  once: boolean;
  report?: string | undefined;
  items?: string | undefined;
  samples: boolean;
  dataDir?: string | undefined;
  portBase?: number | undefined;
  outputs: string;
  latency: number | { minMs: number; maxMs: number };
  timeoutMs: number;
  logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  logs: boolean;
  bundles: boolean;
  config?: string | undefined;
  sets: string[];
  printConfig: boolean;
}

function parseDevArgs(args: string[]): DevOptions | 'help' {
  const { values } = parseArgs({
    args,
    strict: true,
    allowNegative: true,
    options: {
      once: { type: 'boolean', default: false },
      report: { type: 'string' },
      items: { type: 'string' },
      samples: { type: 'boolean', default: true },
      'data-dir': { type: 'string' },
      'port-base': { type: 'string' },
      outputs: { type: 'string', default: '.sluice/outputs.json' },
      latency: { type: 'string', default: '50-250' },
      timeout: { type: 'string', default: '600' },
      'log-level': { type: 'string', default: 'WARN' },
      logs: { type: 'boolean', default: false },
      bundles: { type: 'boolean', default: false },
      config: { type: 'string' },
      set: { type: 'string', multiple: true, default: [] },
      'print-config': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return 'help';
  const level = values['log-level'].toUpperCase();
  if (!['DEBUG', 'INFO', 'WARN', 'ERROR'].includes(level)) {
    throw new UsageError(`--log-level must be DEBUG, INFO, WARN or ERROR (got ${values['log-level']})`);
  }
  const timeout = Number(values.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0)
    throw new UsageError(`--timeout must be a positive number of seconds (got ${values.timeout})`);
  if (values.items !== undefined && !values.samples)
    throw new UsageError('--items and --no-samples exclude each other');
  return {
    once: values.once,
    report: values.report,
    items: values.items,
    samples: values.samples,
    dataDir: values['data-dir'],
    portBase: values['port-base'] === undefined ? undefined : parsePortBase(values['port-base']),
    outputs: values.outputs,
    latency: parseLatency(values.latency),
    timeoutMs: timeout * 1000,
    logLevel: level as DevOptions['logLevel'],
    logs: values.logs,
    bundles: values.bundles,
    config: values.config,
    sets: values.set,
    printConfig: values['print-config'],
  };
}

const HIGHEST_PORT = 65_535;
const LOWEST_PORT_BASE = 1024;

function parsePortBase(text: string): number {
  const base = Number(text);
  const highest = HIGHEST_PORT - PORTS_TAKEN + 1;
  if (!/^\d+$/.test(text.trim()) || base < LOWEST_PORT_BASE || base > highest) {
    throw new UsageError(
      `--port-base must be a whole number from ${LOWEST_PORT_BASE} to ${highest}: it and the next ${PORTS_TAKEN - 1} ports are used (got ${text})`,
    );
  }
  return base;
}

function parseLatency(text: string): DevOptions['latency'] {
  const match = /^(\d+)(?:-(\d+))?$/.exec(text.trim());
  if (!match) throw new UsageError(`--latency must be MS or MIN-MAX in milliseconds (got ${text})`);
  const min = Number(match[1]);
  const max = match[2] === undefined ? min : Number(match[2]);
  if (max < min) throw new UsageError(`--latency range ${text} has its maximum below its minimum`);
  return match[2] === undefined ? min : { minMs: min, maxMs: max };
}

/** `sluice dev`: returns the process exit code. */
export async function runDev(args: string[]): Promise<number> {
  const options = parseDevArgs(args);
  if (options === 'help') {
    process.stdout.write(DEV_HELP);
    return EXIT.ok;
  }
  const print = printer();
  const { config, patch } = await devConfig(options);
  if (options.printConfig) {
    process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
    return EXIT.ok;
  }
  const lines = await readItemLines(options);
  const logFile = resolve(options.dataDir ?? '.sluice', 'functions.log');
  if (!options.logs) await captureFunctionLogs(logFile);

  const provider = process.env.OPENAI_API_KEY
    ? { apiKey: process.env.OPENAI_API_KEY, baseUrl: process.env.OPENAI_BASE_URL }
    : undefined;
  print(
    options.bundles
      ? 'sluice dev: bundling the functions, starting the emulators and the stack...'
      : 'sluice dev: starting the emulators and the stack...',
  );
  const metrics = new LocalMetrics();
  const dev = await startDevRuntime({
    dataDir: options.dataDir && resolve(options.dataDir),
    ...(options.portBase !== undefined && { portBase: options.portBase }),
    provider,
    simulator: { latencyMs: options.latency },
    logLevel: options.logLevel,
    bundles: options.bundles,
    config: patch,
    // EMF lines go where the functions' logs go (as on CloudWatch) and into the local metrics view.
    emf: (line) => {
      metrics.sink(line);
      console.log(line);
    },
  }).catch((error: unknown) => {
    // The port base is the operator's choice: a taken port is bad usage, named with the service that wanted it.
    throw error instanceof PortInUseError ? new UsageError(`--port-base ${options.portBase}: ${error.message}`) : error;
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await dev.stop();
  };
  try {
    await writeOutputsFile(dev, resolve(options.outputs));
    printEndpoints(print, dev, options, logFile);

    const sent = await sendBodies(dev.sqs, required(dev.outputs, 'IntakeQueueUrl'), lines);
    const accepted = sent.map((message) => {
      const parsed = parseIntakeMessage(message.body, message.messageId);
      return parsed.ok ? parsed.item.id : parsed.itemId;
    });
    if (sent.length > 0) print(`enqueued ${sent.length} item(s) on the intake queue`);
    // A kept data dir holds earlier runs' usage: this run's metrics are compared with what it adds to it.
    const usageBefore = await readUsageRows(dev.dynamo, required(dev.outputs, 'StateTableName'));
    dev.start();

    const finished = await watch(dev, accepted, options, metrics);
    // The report is read with no function running, so items, queues, usage and metrics are of one moment.
    await dev.halt();
    const report = await collectRunReport({
      pipeline: dev.pipeline,
      sqs: dev.sqs,
      dynamo: dev.dynamo,
      outputs: dev.outputs,
      acceptedItemIds: accepted,
      usageBefore,
    });
    if (options.report) {
      const full = {
        ...report,
        metrics: summariseMetrics(metrics),
        simulator: dev.simulator?.stats(),
        pollers: dev.local.pollers.map((poller) => poller.stats),
      };
      await writeFile(resolve(options.report), `${JSON.stringify(full, null, 2)}\n`);
      print(`report written to ${options.report}`);
    }
    printSummary(print, report, options, queueLabelsOf(dev.pipeline));
    printMetricsCheck(print, report, summariseMetrics(metrics));
    if (!finished) {
      print(`gave up after ${options.timeoutMs / 1000}s with items still in progress`);
      return EXIT.failure;
    }
    return report.items.lost === 0 ? EXIT.ok : EXIT.failure;
  } finally {
    await stop();
  }
}

/**
 * The stack's outputs, as `cdk deploy --outputs-file` writes them, plus where the local endpoints are, so the
 * `sluice` commands (and any SDK client) can reach the local stack from this file alone.
 */
async function writeOutputsFile(dev: DevRuntime, file: string) {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify({ [STACK_NAME]: localOutputs(dev) }, null, 2)}\n`);
}

/** Shows progress until the run is over: drained (--once) or interrupted. True when it ended normally. */
async function watch(
  dev: DevRuntime,
  accepted: readonly string[],
  options: DevOptions,
  metrics: LocalMetrics,
): Promise<boolean> {
  const view = new ProgressView();
  const started = Date.now();
  const gone = new Set<string>();
  const idle = new IdleNotice();
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    view.note('stopping: letting the invocations in flight finish (Ctrl-C again to quit at once)...');
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (;;) {
      const snapshot = await readSnapshot(dev);
      // Said once per disappearance; a queue created again (by hand) and deleted again is said again.
      for (const key of snapshot.missingQueues.filter((missing) => !gone.has(missing))) {
        view.note(missingQueueNotice(queueLabelsOf(dev.pipeline)[key] ?? key, dev.outputs[key] ?? ''));
      }
      gone.clear();
      for (const key of snapshot.missingQueues) gone.add(key);
      view.show(renderSnapshot(snapshot, accepted.length, Date.now() - started, summariseMetrics(metrics)));
      if (interrupted) return true;
      if (!options.once) {
        const line = idle.observe(snapshot);
        if (line !== undefined) view.note(line);
      } else {
        const done = countIn(snapshot.byState, snapshot.pipeline.terminalStates);
        const drained = queuedForStages(snapshot) === 0;
        if (done >= accepted.length && drained) return true;
        if (Date.now() - started > options.timeoutMs) return false;
      }
      await new Promise((resolveWait) => setTimeout(resolveWait, REFRESH_MS));
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * The run's settings: cdk.json's `sluice` object, then the --config file, then each --set, merged and validated
 * together; any problem is a usage error naming where the wrong key was set. `patch` is what the run merges over
 * cdk.json.
 */
async function devConfig(options: DevOptions): Promise<{ config: SluiceConfig; patch: Record<string, unknown> }> {
  try {
    const layers: ConfigLayer[] = [{ source: 'cdk.json', settings: await cdkJsonConfig() }];
    if (options.config !== undefined) {
      layers.push({ source: `--config ${options.config}`, settings: await readConfigFile(options.config) });
    }
    for (const text of options.sets) layers.push({ source: `--set ${text}`, settings: settingAssignment(text) });
    const patch = layers.slice(1).reduce<Record<string, unknown>>((all, layer) => mergeDeep(all, layer.settings), {});
    return { config: loadLayeredConfig(layers), patch };
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(error.message);
    throw error;
  }
}

async function readConfigFile(file: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(resolve(file), 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read --config file ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--config file ${file} is not JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new UsageError(
      `--config file ${file} must hold a JSON object of sluice settings, as cdk.json's context.sluice (got ${Array.isArray(parsed) ? 'an array' : JSON.stringify(parsed)})`,
    );
  }
  return parsed as Record<string, unknown>;
}

function missingQueueNotice(label: string, url: string): string {
  return (
    `the ${label} ${url} no longer exists (deleted through the SQS API?); the rest keeps running. ` +
    "Restart 'sluice dev' to create it again ('sluice doctor' names every missing queue)."
  );
}

async function readItemLines(options: DevOptions): Promise<string[]> {
  if (!options.samples) return [];
  const file = options.items ? resolve(options.items) : SAMPLES;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read items file ${String(file)}: ${(error as Error).message}`);
  }
  return text.split('\n').filter((line) => line.trim() !== '');
}

/**
 * The functions log as they would to CloudWatch; here that goes to a file so the progress view stays readable.
 * Powertools loggers write to the global console in dev mode, so that console is pointed at the file.
 */
async function captureFunctionLogs(file: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const stream = createWriteStream(file, { flags: 'a' });
  process.env.POWERTOOLS_DEV = 'true';
  globalThis.console = new Console({ stdout: stream, stderr: stream });
}

function printEndpoints(print: (line?: string) => void, dev: DevRuntime, options: DevOptions, logFile: string) {
  const { endpoints } = dev.local;
  print(`  SQS endpoint       ${endpoints.sqs}`);
  print(`  DynamoDB endpoint  ${endpoints.dynamodb}`);
  print(`  Lambda endpoint    ${endpoints.lambda} (event source mappings: sluice pause / resume)`);
  print(`  region             ${endpoints.region} (any credentials)`);
  print(
    `  LLM                ${dev.simulator ? `simulator at ${dev.simulator.url}` : (process.env.OPENAI_BASE_URL ?? 'OpenAI')}`,
  );
  print(`  intake queue       ${dev.outputs.IntakeQueueUrl}`);
  print(`  published queue    ${dev.outputs.PublishedQueueUrl}`);
  print(`  state table        ${dev.outputs.StateTableName}`);
  print(`  outputs file       ${options.outputs}`);
  print(
    `  functions          ${options.bundles ? 'synthesized bundles (as cdk deploy uploads them)' : 'TypeScript sources'}`,
  );
  print(`  function logs      ${options.logs ? 'this terminal' : logFile}`);
  print(`  data               ${options.dataDir ? join(options.dataDir) : 'in memory (use --data-dir to keep it)'}`);
  print();
}

function printSummary(
  print: (line?: string) => void,
  report: RunReport,
  options: DevOptions,
  queueLabels: Readonly<Record<string, string>>,
) {
  const count = (state: string) => report.items.byState[state] ?? 0;
  const { inProgress } = report.items;
  // Items whose messages are still queued are not lost: the pipeline moves them on when it runs again.
  const resumed = options.dataDir
    ? `a restart with --data-dir ${options.dataDir} carries them on`
    : 'in memory, they end with this run: --data-dir keeps them for a restart';
  print();
  print(
    `items: ${report.items.total} total, ${count(PUBLISHED)} published, ${count(DEAD_LETTER)} dead-lettered, ` +
      (count(DISCARDED) > 0 ? `${count(DISCARDED)} discarded, ` : '') +
      (inProgress > 0 ? `${inProgress} in progress (their messages are still queued; ${resumed}), ` : '') +
      `${report.items.lost} lost`,
  );
  for (const dead of report.deadLetters) {
    print(`  dead letter ${dead.itemId} (${dead.stage}): ${dead.errorClass}: ${dead.message.split('\n')[0]}`);
  }
  if (report.missingQueues.length > 0) {
    const names = report.missingQueues.map((key) => queueLabels[key] ?? key).join(', ');
    print(`missing queues: ${names} (deleted while running, with their messages; restart 'sluice dev' to create them)`);
  }
  const degraded = Object.entries(report.items.degraded);
  if (degraded.length > 0) print(`degraded: ${degraded.map(([flag, n]) => `${flag} ${n}`).join(', ')}`);
  const tokens = (llm: RunReport['llm']) =>
    `${llm.calls} calls, ${llm.promptTokens} prompt + ${llm.completionTokens} completion tokens, $${llm.costUsd.toFixed(4)}`;
  const earlier = report.llm.calls !== report.llmThisRun.calls;
  print(`llm${earlier ? ' (this run)' : ''}: ${tokens(report.llmThisRun)}`);
  for (const row of report.llmThisRun.byStageAndModel) {
    print(
      `  ${row.stage.padEnd(8)} ${row.model.padEnd(16)} ${row.calls} calls  ${row.promptTokens + row.completionTokens} tokens  $${row.costUsd.toFixed(4)}`,
    );
  }
  if (earlier) print(`llm (every run in the state table): ${tokens(report.llm)}`);
}

/**
 * The metrics the functions emitted must tell the same story as the state table. Like is compared with like: this
 * process's metrics with the usage this run added to the table (on a kept data dir it also holds earlier runs').
 */
function printMetricsCheck(print: (line?: string) => void, report: RunReport, metrics: MetricsSummary) {
  const run = report.llmThisRun;
  const same =
    metrics.llm.calls === run.calls &&
    metrics.llm.promptTokens === run.promptTokens &&
    metrics.llm.completionTokens === run.completionTokens &&
    Math.abs(metrics.llm.costUsd - run.costUsd) < 1e-9;
  print(
    `metrics (EMF): ${metrics.items.published} published, ${metrics.items.deadLettered} dead-lettered, ` +
      `${metrics.retries} retries, ${metrics.deferrals} waits, ${metrics.llm.rateLimited} 429s, ` +
      `${metrics.breakers.opened} breaker opens; LLM figures ${same ? 'match' : 'DO NOT match'} the state table ` +
      `(this run's calls: ${metrics.llm.calls} in the metrics, ${run.calls} in the usage rows)`,
  );
}

function required(outputs: Readonly<Record<string, string>>, key: string): string {
  const value = outputs[key];
  if (value === undefined) throw new Error(`the local stack has no output ${key}`);
  return value;
}
