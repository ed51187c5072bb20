import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { measureColdStart } from './cold-start.ts';
import { measureOutage, measureRequests, measureUtilization } from './measures.ts';
import { measureOverhead } from './overhead.ts';
import { type BenchResults, renderMarkdown } from './report.ts';

const MEASURES = ['utilization', 'requests', 'cold-start', 'outage', 'overhead'] as const;
type Measure = (typeof MEASURES)[number];

const HELP = `Usage: npm run bench [-- --only LIST] [--out DIR]

Runs sluice's benchmarks on the embedded runtime with the LLM simulator as the provider, and writes
DIR/latest.json (every figure) and DIR/latest.md (the tables BENCHMARKS.md shows). About 12 minutes on 2 cores.

Options:
  --only LIST   comma-separated measures: ${MEASURES.join(', ')} (default: all)
  --out DIR     where to write the results (default: bench/results)
  -h, --help    this text

Examples:
  npm run bench
  npm run bench -- --only requests,cold-start`;

function parse(argv: readonly string[]): { only: Measure[]; out: string } | undefined {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      only: { type: 'string' },
      out: { type: 'string', default: join('bench', 'results') },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return undefined;
  const only = (values.only ?? MEASURES.join(','))
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const unknown = only.filter((name) => !(MEASURES as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new UsageError(`unknown measure ${unknown.join(', ')}: choose from ${MEASURES.join(', ')}`);
  }
  return { only: only as Measure[], out: values.out };
}

class UsageError extends Error {}

async function main(): Promise<number> {
  let options: ReturnType<typeof parse>;
  try {
    options = parse(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n\n${HELP}\n`);
    return 2;
  }
  if (options === undefined) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const began = Date.now();
  const progress = (line: string) =>
    process.stderr.write(`[${String(Math.round((Date.now() - began) / 1000)).padStart(4)} s] ${line}\n`);
  const results: BenchResults = {
    startedAt: new Date(began).toISOString(),
    node: process.versions.node,
    cpus: availableParallelism(),
    command: ['npm run bench', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
  };
  const selected = new Set(options.only);
  await mkdir(options.out, { recursive: true });
  // Written after every measure, so a run that fails late keeps what it measured.
  const save = async () => {
    await writeFile(join(options.out, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
    await writeFile(join(options.out, 'latest.md'), renderMarkdown(results));
  };
  if (selected.has('cold-start')) {
    progress('cold start: synthesizing both packagings and importing each function');
    results.coldStart = await measureColdStart({ onProgress: progress });
    await save();
  }
  if (selected.has('requests')) {
    results.requests = [];
    for (const batchSize of [1, 10]) {
      progress(`requests and cost per item, batch size ${batchSize}`);
      results.requests.push(await measureRequests(progress, batchSize));
      await save();
    }
  }
  if (selected.has('overhead')) {
    progress('overhead ceiling: zero-latency provider, CPU profile');
    results.overhead = await measureOverhead(progress);
    await save();
  }
  const outage = async () => {
    progress('outage recovery: a 60 s provider outage mid-run');
    results.outage = await measureOutage(progress);
    await save();
  };
  if (selected.has('utilization')) {
    progress('limit utilization: sluice and the naive baseline side by side, per configuration');
    results.utilization = await measureUtilization(progress, selected.has('outage') ? outage : undefined);
    await save();
  } else if (selected.has('outage')) {
    await outage();
  }
  await save();
  process.stdout.write(renderMarkdown(results));
  progress(`done: ${join(options.out, 'latest.md')} and latest.json`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
