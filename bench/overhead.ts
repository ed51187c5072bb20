import { Session } from 'node:inspector/promises';
import { benchRun, requireInvariants } from './bench-run.ts';
import type { Progress } from './measures.ts';

/**
 * The overhead ceiling: with a provider that answers at once and limits far away, how many items per second
 * the embedded runtime and the handlers sustain on this machine, and where the CPU time goes — from a V8 CPU
 * profile of the whole run (emulators, handlers and simulator share this process), summed by category.
 */

export interface ProfileShare {
  category: string;
  ms: number;
  share: number;
}

export interface OverheadResult {
  items: number;
  itemsPerSecond: number;
  llmCallsPerSecond: number;
  awsRequestsPerSecond: number;
  /** CPU time sampled over wall time: above 1 means more than one core was busy (worker threads, GC). */
  cpuMs: number;
  wallMs: number;
  profile: ProfileShare[];
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Where a profile node's time is counted, from its script and function name. */
const CATEGORIES: [string, (url: string, fn: string) => boolean][] = [
  ['garbage collection', (_url, fn) => fn === '(garbage collector)'],
  ['idle', (_url, fn) => fn === '(idle)'],
  [
    'DynamoDB emulator (dynalite, LevelDB)',
    (url) => /node_modules\/(dynalite|level|memory-level|abstract-level|classic-level|big\.js|lazy)/.test(url),
  ],
  ['SQS emulator (fauxqs)', (url) => /node_modules\/fauxqs/.test(url) || url.startsWith('wasm://')],
  [
    'AWS SDK (serialize, sign, parse)',
    (url) => /node_modules\/(@aws-sdk|@smithy|@aws-crypto|fast-xml-parser)/.test(url),
  ],
  [
    'async context hooks (X-Ray SDK)',
    (url, fn) =>
      /node_modules\/(cls-hooked|aws-xray-sdk|async-hook-jl|emitter-listener)/.test(url) ||
      /^(registerDestroyHook|promiseInitHook|promiseInitHookWithDestroyTracking|emitHook|destroyHooksExist)/.test(fn),
  ],
  ['LLM SDK (openai)', (url) => /node_modules\/openai/.test(url)],
  ['Powertools, middy, zod', (url) => /node_modules\/(@aws-lambda-powertools|@middy|zod)/.test(url)],
  ['sluice handlers and shared code', (url) => /\/functions\//.test(url)],
  ['LLM simulator', (url) => /\/sim\//.test(url)],
  ['local runtime (pollers, resources)', (url) => /\/local\//.test(url)],
  ['Node.js HTTP, streams, crypto', (url, fn) => url.startsWith('node:') || (url === '' && fn !== '(program)')],
  ['other', () => true],
];

export function summariseProfile(profile: CpuProfile): { cpuMs: number; categories: ProfileShare[] } {
  const selfUs = new Map<number, number>();
  let totalUs = 0;
  profile.samples.forEach((node, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    selfUs.set(node, (selfUs.get(node) ?? 0) + delta);
    totalUs += delta;
  });
  const byCategory = new Map<string, number>();
  for (const node of profile.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    if (us === 0) continue;
    const { url, functionName } = node.callFrame;
    const category = CATEGORIES.find(([, test]) => test(url, functionName))?.[0] ?? 'other';
    byCategory.set(category, (byCategory.get(category) ?? 0) + us);
  }
  const idleUs = byCategory.get('idle') ?? 0;
  const busyUs = totalUs - idleUs;
  const categories = [...byCategory]
    .filter(([category]) => category !== 'idle')
    .map(([category, us]) => ({ category, ms: us / 1000, share: busyUs === 0 ? 0 : us / busyUs }))
    .sort((a, b) => b.ms - a.ms);
  return { cpuMs: busyUs / 1000, categories };
}

export async function measureOverhead(progress: Progress): Promise<OverheadResult> {
  const items = 200;
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 1000 });
  await session.post('Profiler.start');
  let profile: CpuProfile;
  let run: Awaited<ReturnType<typeof benchRun>>;
  try {
    run = requireInvariants(
      await benchRun(
        {
          name: 'overhead',
          items,
          latencyMs: 0,
          config: {
            stages: {
              extract: { maxConcurrency: 8, reservedConcurrency: 8 },
              draft: { maxConcurrency: 8, reservedConcurrency: 8 },
            },
            limits: {},
          },
          drainTimeoutSeconds: 300,
        },
        progress,
      ),
    );
  } finally {
    ({ profile } = (await session.post('Profiler.stop')) as { profile: CpuProfile });
    session.disconnect();
  }
  const seconds = run.report.durations.runMs / 1000;
  const { cpuMs, categories } = summariseProfile(profile);
  return {
    items,
    itemsPerSecond: items / seconds,
    llmCallsPerSecond: run.calls.filter((call) => call.status === 200).length / seconds,
    awsRequestsPerSecond: run.requests.reduce((sum, tally) => sum + tally.requests + tally.empty, 0) / seconds,
    cpuMs,
    wallMs: run.report.durations.totalMs,
    profile: categories,
  };
}
