import { Console } from 'node:console';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { parseIntakeMessage } from '#functions/extract/extract.ts';
import { STACK_NAME } from '#lib/template.ts';
import { type DevRuntime, localOutputs, startDevRuntime } from '#local/dev-runtime.ts';
import { LocalMetrics, type MetricsSummary, summariseMetrics } from '#local/local-metrics.ts';
import { ProgressView, readSnapshot, renderSnapshot } from '#local/progress.ts';
import { sendBodies } from '#local/queue-io.ts';
import { collectRunReport, type RunReport } from '#local/run-report.ts';
import { TERMINAL_STATES } from '#shared/item-store.ts';
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

With --bundles the functions run from the bundles a synth with bundling builds (local esbuild, what 'cdk deploy'
uploads), each in an execution environment of its own (a worker thread with its own process.env, the template's
variables mapped to the local services), instead of from the TypeScript sources; the supervisor's bundle is invoked
on its schedule. Test hooks that reach into the functions' process (crash injection, fake clocks, a replaced LLM
client) apply to the sources only.

Options:
  --once               Drain the items and exit (0 when nothing was lost, 1 otherwise).
  --report FILE        Write a JSON summary: items by final state, lost, tokens and $ by stage and model.
  --items FILE         JSONL file of items to enqueue at start (default: the bundled samples).
  --no-samples         Enqueue nothing at start; wait for items from outside.
  --data-dir DIR       Keep queues and tables in DIR across restarts (default: in memory).
  --outputs FILE       Where to write the outputs file (default: .sluice/outputs.json).
  --latency MS|MIN-MAX Simulator latency per call (default 50-250).
  --timeout SECONDS    With --once, give up after this long (default 600).
  --log-level LEVEL    Functions' log level: DEBUG, INFO, WARN, ERROR (default WARN).
  --logs               Print function logs here instead of to .sluice/functions.log.
  --bundles            Run the synthesized function bundles (built under .sluice/bundles, removed on exit)
                       instead of the TypeScript sources.
  -h, --help           Show this help.

Examples:
  npm start                                   # the bundled ~50 items, live progress, Ctrl-C to stop
  npm start -- --once --report r.json         # drain them, write a report, exit
  npx sluice dev --no-samples --data-dir .sluice/data
  OPENAI_API_KEY=sk-... npx sluice dev --once # a real provider
  npx sluice dev --bundles --once             # the samples through the bundles cdk deploy would upload
`;

const SAMPLES = new URL('../samples/items.jsonl', import.meta.url);
const REFRESH_MS = 500;

interface DevOptions {
  once: boolean;
  report?: string | undefined;
  items?: string | undefined;
  samples: boolean;
  dataDir?: string | undefined;
  outputs: string;
  latency: number | { minMs: number; maxMs: number };
  timeoutMs: number;
  logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
  logs: boolean;
  bundles: boolean;
}

export function parseDevArgs(args: string[]): DevOptions | 'help' {
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
      outputs: { type: 'string', default: '.sluice/outputs.json' },
      latency: { type: 'string', default: '50-250' },
      timeout: { type: 'string', default: '600' },
      'log-level': { type: 'string', default: 'WARN' },
      logs: { type: 'boolean', default: false },
      bundles: { type: 'boolean', default: false },
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
    outputs: values.outputs,
    latency: parseLatency(values.latency),
    timeoutMs: timeout * 1000,
    logLevel: level as DevOptions['logLevel'],
    logs: values.logs,
    bundles: values.bundles,
  };
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
    provider,
    simulator: { latencyMs: options.latency },
    logLevel: options.logLevel,
    bundles: options.bundles,
    // EMF lines go where the functions' logs go (as on CloudWatch) and into the local metrics view.
    emf: (line) => {
      metrics.sink(line);
      console.log(line);
    },
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
    dev.start();

    const finished = await watch(dev, accepted, options, metrics);
    const report = await collectRunReport({
      sqs: dev.sqs,
      dynamo: dev.dynamo,
      outputs: dev.outputs,
      acceptedItemIds: accepted,
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
    printSummary(print, report);
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
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (;;) {
      const snapshot = await readSnapshot(dev);
      view.show(renderSnapshot(snapshot, accepted.length, Date.now() - started, summariseMetrics(metrics)));
      if (interrupted) return true;
      if (options.once) {
        const done = TERMINAL_STATES.reduce((sum, state) => sum + snapshot.byState[state], 0);
        const drained = snapshot.queues.intake === 0 && snapshot.queues.draft === 0;
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

function printSummary(print: (line?: string) => void, report: RunReport) {
  const s = report.items.byState;
  print();
  print(
    `items: ${report.items.total} total, ${s.PUBLISHED} published, ${s.DEAD_LETTER} dead-lettered, ${report.items.lost} lost`,
  );
  for (const dead of report.deadLetters) {
    print(`  dead letter ${dead.itemId} (${dead.stage}): ${dead.errorClass}: ${dead.message.split('\n')[0]}`);
  }
  const degraded = Object.entries(report.items.degraded);
  if (degraded.length > 0) print(`degraded: ${degraded.map(([flag, n]) => `${flag} ${n}`).join(', ')}`);
  print(
    `llm: ${report.llm.calls} calls, ${report.llm.promptTokens} prompt + ${report.llm.completionTokens} completion tokens, $${report.llm.costUsd.toFixed(4)}`,
  );
  for (const row of report.llm.byStageAndModel) {
    print(
      `  ${row.stage.padEnd(8)} ${row.model.padEnd(16)} ${row.calls} calls  ${row.promptTokens + row.completionTokens} tokens  $${row.costUsd.toFixed(4)}`,
    );
  }
}

/** The metrics the functions emitted must tell the same story as the state table. */
function printMetricsCheck(print: (line?: string) => void, report: RunReport, metrics: MetricsSummary) {
  const same =
    metrics.llm.calls === report.llm.calls &&
    metrics.llm.promptTokens === report.llm.promptTokens &&
    metrics.llm.completionTokens === report.llm.completionTokens &&
    Math.abs(metrics.llm.costUsd - report.llm.costUsd) < 1e-9;
  print(
    `metrics (EMF): ${metrics.items.published} published, ${metrics.items.deadLettered} dead-lettered, ` +
      `${metrics.retries} retries, ${metrics.deferrals} waits, ${metrics.llm.rateLimited} 429s, ` +
      `${metrics.breakers.opened} breaker opens; LLM figures ${same ? 'match' : 'DO NOT match'} the state table`,
  );
}

function required(outputs: Readonly<Record<string, string>>, key: string): string {
  const value = outputs[key];
  if (value === undefined) throw new Error(`the local stack has no output ${key}`);
  return value;
}
