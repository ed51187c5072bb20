import { readFile } from 'node:fs/promises';
import * as z from 'zod';
import { ConfigError, loadConfig, type SluiceConfig } from '#lib/config.ts';
import { mergeDeep } from '#lib/config-layers.ts';
import { cdkJsonConfig } from '#local/dev-runtime.ts';
import { CRASH_POINTS } from '#shared/faults.ts';
import { parseFaults } from '#sim/faults/config.ts';
import { FaultConfigError, type RateLimits, type SimulatorFaults } from '#sim/server.ts';

/**
 * A chaos scenario: which items to send, the pipeline's settings, and every fault to inject while it runs —
 * provider faults (through the simulator), crashes at the stages' crash points, memory and provider outages and
 * provider limit changes on a timeline relative to the run's start. One JSON file describes one run.
 */

/** Where a chaos run may crash: the stages' crash points, plus the event source losing a finished invocation's deletes. */
export const CHAOS_CRASH_POINTS = [...CRASH_POINTS, 'delete'] as const;
export type ChaosCrashPoint = (typeof CHAOS_CRASH_POINTS)[number];

/**
 * A scenario file that cannot be run, naming the field that is wrong.
 * @example
 * try { parseScenario(raw); } catch (error) { if (error instanceof ScenarioError) console.error(error.field); }
 */
export class ScenarioError extends Error {
  /** Dotted path of the first bad field, e.g. `crashes.after-send` or `config.stages.extract.timeoutSeconds`. */
  readonly field: string;
  /** Every problem found, each as `<field> <what is wrong>`. */
  readonly problems: readonly string[];

  constructor(problems: readonly { field: string; message: string }[], options?: { cause?: unknown }) {
    const listed = problems.map((problem) => `${problem.field || 'scenario'}: ${problem.message}`);
    super(`invalid scenario: ${listed.join('; ')}`, options);
    this.name = 'ScenarioError';
    this.field = problems[0]?.field ?? '';
    this.problems = listed;
  }
}

const probability = z.number().min(0).max(1);
const seconds = z.number().finite().min(0);

const crashesSchema = z.strictObject({
  ...(Object.fromEntries(CHAOS_CRASH_POINTS.map((point) => [point, probability.optional()])) as Record<
    ChaosCrashPoint,
    z.ZodOptional<typeof probability>
  >),
  /** Most crashes injected for one item over all the stages' points (lost deletes: for one message). */
  maxPerItem: z.number().int().min(0).max(100).default(1),
});

const windowSchema = z.strictObject({ atSeconds: seconds, forSeconds: z.number().finite().gt(0) });

/** Windows may not overlap: the simulator has one outage switch. */
function noOverlap(windows: readonly { atSeconds: number; forSeconds: number }[], ctx: z.core.$RefinementCtx) {
  const sorted = windows.map((window, index) => ({ ...window, index })).sort((a, b) => a.atSeconds - b.atSeconds);
  for (let i = 1; i < sorted.length; i += 1) {
    const previous = sorted[i - 1];
    const current = sorted[i];
    if (previous && current && current.atSeconds < previous.atSeconds + previous.forSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: [current.index, 'atSeconds'],
        message: `overlaps the window starting at ${previous.atSeconds} s`,
      });
    }
  }
}

/** The schema of a scenario file. Parse with {@link parseScenario}, which also validates `config` and the faults. */
const scenarioSchema = z.strictObject({
  /** Names the run in reports; also the prefix of the generated item ids. */
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'must be 1-64 letters, digits, "-" or "_"'),
  description: z.string().optional(),
  /** Seed of everything pseudo-random: items, duplicates, crash decisions, the simulator's faults. */
  seed: z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1),
  items: z.strictObject({
    /** Valid items, cycled from samples/items.jsonl with unique ids. */
    count: z.number().int().min(1).max(100_000),
    /** Invalid items mixed in (not JSON, missing or too-short fields, bad ids, unknown keys). */
    poison: z.number().int().min(0).max(100_000).default(0),
    /** Share of items (valid or not) whose intake message is sent twice. */
    duplicates: probability.default(0),
  }),
  /** Settings merged over cdk.json's `sluice` context, as in `sluice dev` (see lib/config.ts). */
  config: z.record(z.string(), z.unknown()).default({}),
  simulator: z
    .strictObject({
      /** Latency of each call when `faults.latency` is not given. */
      latencyMs: z.unknown().optional(),
      /** The simulator's faults from the start (limits, errorRates, hangRate, malformedRate, latency, ...). */
      faults: z.unknown().optional(),
    })
    .default({}),
  /** Probability of crashing at each point each time an item passes it. */
  crashes: crashesSchema.default({ maxPerItem: 1 }),
  /** Windows, relative to the run's start, in which the memory store fails every lookup and write. */
  memoryOutages: z.array(windowSchema).superRefine(noOverlap).default([]),
  /** Windows, relative to the run's start, in which the provider fails (503) or hangs every call. */
  providerOutages: z
    .array(windowSchema.extend({ mode: z.enum(['error', 'hang']).default('error') }))
    .superRefine(noOverlap)
    .default([]),
  /** The provider's limits change at these times (relative to the run's start). */
  limitChanges: z.array(z.strictObject({ atSeconds: seconds, limits: z.unknown() })).default([]),
  /**
   * Once the run has settled, every dead-lettered item's messages arrive again `copies` times each (a producer's
   * retries, SQS's at-least-once redelivery): its intake message and, for items the draft stage dead-lettered, its
   * draft message. The run then drains again; the checker's `deadLettersStayDead` asserts nothing moved.
   */
  lateDuplicates: z.strictObject({ copies: z.number().int().min(1).max(10) }).optional(),
  /**
   * Give up waiting for the pipeline to settle once nothing has moved for this long (no item changed state, no
   * queue count changed, no LLM call), or after ten times this long in all.
   */
  drainTimeoutSeconds: z.number().finite().gt(0).max(86_400).default(120),
  expect: z
    .strictObject({
      /**
       * The daily budget is meant to run out: items left waiting for it (their message delayed in the queue,
       * nothing counted against them) are expected, not stuck.
       */
      budgetExhausted: z.boolean().default(false),
      /**
       * Items that may be dead-lettered for spending their failure budget on retryable faults (5xx, timeouts,
       * malformed output). 0 means the scenario gives every item enough attempts.
       */
      transientDeadLetters: z.number().int().min(0).default(0),
      /**
       * The supervisor must pause every stage during each provider outage longer than `supervisor.pauseAfterSeconds`
       * (within that threshold, a look and a call timeout of the outage's start), leave the provider to its probes
       * while the stages are paused, and resume them after the outage.
       */
      autoPause: z.boolean().default(false),
      /** Every item published without history must end redrafted with history (the supervisor's re-enrichment). */
      reenriched: z.boolean().default(false),
      /**
       * After the last limit change, which lowers a model's requests per minute: at most `max429Percent` of that
       * model's calls may be answered 429, and once the provider's minute has turned over, its answered calls must
       * reach `minThroughputPercent` of the new limit while items wait.
       */
      limitDrop: z
        .strictObject({
          max429Percent: z.number().min(0).max(100),
          minThroughputPercent: z.number().min(0).max(100),
        })
        .optional(),
    })
    .default({ budgetExhausted: false, transientDeadLetters: 0, autoPause: false, reenriched: false }),
});

type ParsedScenario = z.output<typeof scenarioSchema>;

/** A validated scenario, with the merged pipeline config and the simulator settings checked too. */
export interface Scenario extends Omit<ParsedScenario, 'simulator' | 'limitChanges'> {
  simulator: { latencyMs?: number | { minMs: number; maxMs: number }; faults: SimulatorFaults };
  limitChanges: { atSeconds: number; limits: RateLimits }[];
  /** The pipeline config the run will use (cdk.json's merged with `config`), every default filled in. */
  pipeline: SluiceConfig;
}

const latencySchema = z.union([
  z.number().finite().min(0),
  z
    .strictObject({ minMs: z.number().finite().min(0), maxMs: z.number().finite().min(0) })
    .refine((range) => range.maxMs >= range.minMs, { message: 'maxMs must not be less than minMs', path: ['maxMs'] }),
]);

/**
 * Validates a scenario (already parsed from JSON). `base` is the config `config` is merged over: cdk.json's
 * `sluice` context when the run starts the real dev runtime.
 * @throws {ScenarioError} naming the first bad field (and listing every problem found).
 * @example
 * const scenario = parseScenario(JSON.parse(text), await cdkJsonConfig());
 */
export function parseScenario(raw: unknown, base: Record<string, unknown> = {}): Scenario {
  const parsed = scenarioSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ScenarioError(
      parsed.error.issues.map((issue) => ({ field: fieldOf(issue), message: issue.message })),
      { cause: parsed.error },
    );
  }
  const scenario = parsed.data;
  const problems: { field: string; message: string }[] = [];

  let pipeline: SluiceConfig | undefined;
  try {
    pipeline = loadConfig(mergeDeep(base, scenario.config));
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) {
      const root = 'the sluice context ';
      if (problem.startsWith(root)) {
        problems.push({ field: 'config', message: problem.slice(root.length) });
        continue;
      }
      const [path = '', ...rest] = problem.split(' ');
      problems.push({ field: `config.${path}`, message: rest.join(' ') });
    }
  }
  const llm = scenario.config.llm;
  if (typeof llm === 'object' && llm !== null && 'baseUrl' in llm) {
    problems.push({ field: 'config.llm.baseUrl', message: 'must not be set: a chaos run uses the LLM simulator' });
  }

  let faults: SimulatorFaults = {};
  try {
    faults = parseFaults(scenario.simulator.faults ?? {});
  } catch (error) {
    if (!(error instanceof FaultConfigError)) throw error;
    problems.push({ field: joinField('simulator.faults', error.field), message: error.message });
  }
  const latency = latencySchema.safeParse(scenario.simulator.latencyMs ?? 0);
  if (!latency.success) {
    for (const issue of latency.error.issues) {
      problems.push({ field: joinField('simulator.latencyMs', issue.path.join('.')), message: issue.message });
    }
  }

  const limitChanges: Scenario['limitChanges'] = [];
  for (const [index, change] of scenario.limitChanges.entries()) {
    try {
      const limits = parseFaults({ limits: change.limits }).limits;
      if (limits === undefined) throw new FaultConfigError('limits', "Invalid 'limits': required.");
      limitChanges.push({ atSeconds: change.atSeconds, limits });
    } catch (error) {
      if (!(error instanceof FaultConfigError)) throw error;
      problems.push({ field: joinField(`limitChanges[${index}]`, error.field), message: error.message });
    }
  }

  const { expect } = scenario;
  if (expect.limitDrop !== undefined && limitChanges.length === 0) {
    problems.push({ field: 'expect.limitDrop', message: 'needs a limit change in limitChanges to measure after' });
  }
  if (expect.autoPause && scenario.providerOutages.length === 0) {
    problems.push({ field: 'expect.autoPause', message: 'needs a provider outage in providerOutages' });
  }
  if ((expect.autoPause || expect.reenriched) && pipeline?.supervisor.enabled === false) {
    problems.push({
      field: 'config.supervisor.enabled',
      message: 'must be true: the scenario expects the supervisor to act',
    });
  }
  if (problems.length > 0 || pipeline === undefined) throw new ScenarioError(problems);
  const { simulator: _simulator, limitChanges: _changes, ...rest } = scenario;
  return {
    ...rest,
    simulator: { ...(latency.success && { latencyMs: latency.data }), faults },
    limitChanges,
    pipeline,
  };
}

/**
 * Reads and validates a scenario file, merging its `config` over cdk.json's.
 * @throws {ScenarioError} when the file is unreadable, not JSON, or invalid (naming the field).
 * @example const scenario = await loadScenario('chaos/scenarios/crashes.json');
 */
export async function loadScenario(file: string): Promise<Scenario> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new ScenarioError([{ field: '', message: `cannot read ${file}: ${(error as Error).message}` }], {
      cause: error,
    });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ScenarioError([{ field: '', message: `${file} is not JSON: ${(error as Error).message}` }], {
      cause: error,
    });
  }
  return parseScenario(raw, await cdkJsonConfig());
}

function fieldOf(issue: z.core.$ZodIssue): string {
  const path = [...issue.path];
  if (issue.code === 'unrecognized_keys' && issue.keys[0] !== undefined) path.push(issue.keys[0]);
  return path.reduce<string>((name, segment) => {
    if (typeof segment === 'number') return `${name}[${segment}]`;
    return name.length === 0 ? String(segment) : `${name}.${String(segment)}`;
  }, '');
}

function joinField(prefix: string, field: string): string {
  if (field === '') return prefix;
  return field.startsWith('[') ? `${prefix}${field}` : `${prefix}.${field}`;
}
