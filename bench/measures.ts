import type { ShippedStage as Stage } from '#functions/pipeline.ts';
import { type BenchRun, type BenchRunSpec, benchRun, failedChecks, requireInvariants } from './bench-run.ts';
import { rateSeries, statusCounts, steadyRate, tokensPerCall } from './call-log.ts';
import { AWS_PRICES, type InfraCost, infraCost } from './prices.ts';

/**
 * The benchmark measures that run the pipeline: limit utilization against a naive baseline, AWS requests and
 * cost per item, and recovery from a provider outage. Each run is checked by the chaos checker; a run of
 * sluice that loses an item fails the benchmark.
 */

export type Progress = (line: string) => void;

/** Simulated model latency: uniform 200–800 ms, so W = 0.5 s per call. */
export const LATENCY = { minMs: 200, maxMs: 800 };
const MEAN_LATENCY_S = 0.5;
const EXTRACT_MODEL = 'gpt-4o-mini';
const DRAFT_MODEL = 'gpt-4.1-mini';
const UNLIMITED = 1_000_000_000;

type Limits = Record<string, { rpm?: number; tpm?: number }>;

interface UtilizationConfig {
  name: string;
  binding: 'RPM' | 'TPM' | 'concurrency';
  items: number;
  concurrency: Record<Stage, number>;
  /** The provider's limits, which sluice is configured with too (the baseline is not). */
  limits: Limits;
}

/**
 * Each run keeps both models saturated for about three minutes: a provider counts per sliding minute, so a run
 * shorter than a few minutes measures the first minute's allowance, not a rate.
 */
export const UTILIZATION_CONFIGS: readonly UtilizationConfig[] = [
  {
    name: 'rpm-bound',
    binding: 'RPM',
    items: 180,
    concurrency: { extract: 8, draft: 8 },
    limits: { [EXTRACT_MODEL]: { rpm: 60, tpm: UNLIMITED }, [DRAFT_MODEL]: { rpm: 150, tpm: UNLIMITED } },
  },
  {
    name: 'tpm-bound',
    binding: 'TPM',
    items: 180,
    concurrency: { extract: 8, draft: 8 },
    // The provider counts tokens at admission (prompt estimate + max_tokens, the simulator's default, as OpenAI
    // documents), so each extract call is charged about 2,500 tokens and each draft call about 5,500.
    limits: { [EXTRACT_MODEL]: { rpm: 100_000, tpm: 130_000 }, [DRAFT_MODEL]: { rpm: 100_000, tpm: 600_000 } },
  },
  {
    name: 'concurrency-bound',
    binding: 'concurrency',
    items: 300,
    // The event source's minimum maximum concurrency is 2.
    concurrency: { extract: 2, draft: 3 },
    limits: { [EXTRACT_MODEL]: { rpm: 100_000, tpm: UNLIMITED }, [DRAFT_MODEL]: { rpm: 100_000, tpm: UNLIMITED } },
  },
];

function stagesConfig(concurrency: Record<Stage, number>, batchSize = 1): Record<string, unknown> {
  const stage = (count: number) => ({ maxConcurrency: count, reservedConcurrency: count, batchSize });
  return { stages: { extract: stage(concurrency.extract), draft: stage(concurrency.draft) } };
}

export interface ModelUtilization {
  model: string;
  stage: Stage;
  /** min(60·C/W, RPM, TPM / tokens per call), in calls per minute. */
  bindingCallsPerMinute: number;
  /** Which term of the minimum binds. */
  bindingTerm: 'concurrency' | 'RPM' | 'TPM';
  tokensPerCall: number;
  /** Undefined when the run had no steady part long enough to measure. */
  measuredCallsPerMinute: number | undefined;
  utilization: number | undefined;
  calls: number;
  rateLimited: number;
  rateLimitedShare: number;
}

export interface UtilizationVariant {
  variant: 'sluice' | 'naive';
  models: ModelUtilization[];
  /** Items published per minute over the whole run. */
  itemsPerMinute: number;
  published: number;
  deadLettered: number;
  runSeconds: number;
  /** Invariant checks the run failed (the naive baseline may fail some; sluice never). */
  failedChecks: string[];
}

export interface UtilizationResult {
  config: UtilizationConfig;
  variants: UtilizationVariant[];
}

function utilizationOf(run: BenchRun, config: UtilizationConfig, variant: 'sluice' | 'naive'): UtilizationVariant {
  const models = (['extract', 'draft'] as const).map((stage): ModelUtilization => {
    const model = run.models[stage];
    const limits = config.limits[model] ?? {};
    const perCall = tokensPerCall(run.calls, model);
    const terms: [ModelUtilization['bindingTerm'], number][] = [
      ['concurrency', (60 * config.concurrency[stage]) / MEAN_LATENCY_S],
      ['RPM', limits.rpm ?? Number.POSITIVE_INFINITY],
      ['TPM', limits.tpm !== undefined && perCall > 0 ? limits.tpm / perCall : Number.POSITIVE_INFINITY],
    ];
    const [bindingTerm, binding] = terms.reduce((least, term) => (term[1] < least[1] ? term : least));
    // A provider's limits count per sliding minute; concurrency has no such window.
    const steady = steadyRate(run.calls, model, { perMinuteLimit: bindingTerm !== 'concurrency' });
    const statuses = statusCounts(run.calls, model);
    const calls = Object.values(statuses).reduce((sum, count) => sum + count, 0);
    const rateLimited = statuses[429] ?? 0;
    return {
      model,
      stage,
      bindingCallsPerMinute: binding,
      bindingTerm,
      tokensPerCall: perCall,
      measuredCallsPerMinute: steady?.callsPerMinute,
      utilization: steady === undefined ? undefined : steady.callsPerMinute / binding,
      calls,
      rateLimited,
      rateLimitedShare: calls === 0 ? 0 : rateLimited / calls,
    };
  });
  const runSeconds = run.report.durations.runMs / 1000;
  return {
    variant,
    models,
    itemsPerMinute: ((run.report.counts.byState.PUBLISHED ?? 0) / runSeconds) * 60,
    published: run.report.counts.byState.PUBLISHED ?? 0,
    deadLettered: run.report.counts.byState.DEAD_LETTER ?? 0,
    runSeconds,
    failedChecks: failedChecks(run),
  };
}

function utilizationRuns(config: UtilizationConfig, progress: Progress): Promise<[BenchRun, BenchRun]> {
  const base: Omit<BenchRunSpec, 'name' | 'config'> = {
    items: config.items,
    latencyMs: LATENCY,
    faults: { limits: { perModel: config.limits } },
    drainTimeoutSeconds: 600,
  };
  // Side by side, at the same time: the load is far below this machine's ceiling (see the overhead measure).
  return Promise.all([
    benchRun(
      {
        ...base,
        name: `${config.name}-sluice`,
        config: { ...stagesConfig(config.concurrency), limits: config.limits },
      },
      progress,
    ).then(requireInvariants),
    // What most teams deploy: no shared limiter, no breaker to speak of, the SDK's default two retries.
    benchRun(
      {
        ...base,
        name: `${config.name}-naive`,
        config: {
          ...stagesConfig(config.concurrency),
          limits: {},
          breaker: { failureThreshold: 100, minCalls: 10_000 },
        },
        sdkRetries: 2,
      },
      progress,
    ),
  ]);
}

/** Runs each configuration with sluice and with the naive baseline; `alongside` runs next to the last pair. */
export async function measureUtilization(
  progress: Progress,
  alongside?: () => Promise<void>,
): Promise<UtilizationResult[]> {
  const results: UtilizationResult[] = [];
  for (const [index, config] of UTILIZATION_CONFIGS.entries()) {
    const last = index === UTILIZATION_CONFIGS.length - 1;
    const [[sluice, naive]] = await Promise.all([
      utilizationRuns(config, progress),
      last && alongside ? alongside() : Promise.resolve(),
    ]);
    results.push({
      config,
      variants: [utilizationOf(sluice, config, 'sluice'), utilizationOf(naive, config, 'naive')],
    });
  }
  return results;
}

export interface RequestBreakdownRow {
  stage: Stage;
  service: string;
  operation: string;
  target: string;
  perItem: number;
}

export interface RequestsResult {
  batchSize: number;
  items: number;
  llmCallsPerItem: Record<Stage, number>;
  /** Billable requests per item per stage (idle empty receives apart). */
  requestsPerItem: Record<Stage, number>;
  emptyReceivesPerItem: Record<Stage, number>;
  breakdown: RequestBreakdownRow[];
  cost: InfraCost;
}

/** Requests and cost per item on the happy path: no faults, limits configured but far from binding. */
export async function measureRequests(progress: Progress, batchSize: number): Promise<RequestsResult> {
  const items = 150;
  const run = requireInvariants(
    await benchRun(
      {
        name: `requests-batch-${batchSize}`,
        items,
        latencyMs: LATENCY,
        config: {
          ...stagesConfig({ extract: 8, draft: 8 }, batchSize),
          limits: {
            [EXTRACT_MODEL]: { rpm: 10_000, tpm: 10_000_000 },
            [DRAFT_MODEL]: { rpm: 10_000, tpm: 10_000_000 },
          },
        },
        drainTimeoutSeconds: 300,
      },
      progress,
    ),
  );
  const perStage = (pick: (tally: BenchRun['requests'][number]) => number) =>
    Object.fromEntries(
      (['extract', 'draft'] as const).map((stage) => [
        stage,
        run.requests.filter((tally) => tally.stage === stage).reduce((sum, tally) => sum + pick(tally), 0) / items,
      ]),
    ) as Record<Stage, number>;
  const llmCallsPerItem = Object.fromEntries(
    (['extract', 'draft'] as const).map((stage) => [
      stage,
      run.calls.filter((call) => call.model === run.models[stage] && call.status === 200).length / items,
    ]),
  ) as Record<Stage, number>;
  return {
    batchSize,
    items,
    llmCallsPerItem,
    requestsPerItem: perStage((tally) => tally.requests),
    emptyReceivesPerItem: perStage((tally) => tally.empty),
    breakdown: run.requests
      .filter((tally) => tally.requests > 0)
      .map((tally) => ({
        stage: tally.stage,
        service: tally.service,
        operation: tally.operation,
        target: tally.target,
        perItem: tally.requests / items,
      }))
      .sort((a, b) => a.stage.localeCompare(b.stage) || b.perItem - a.perItem),
    cost: infraCost(run, items, AWS_PRICES),
  };
}

export interface OutageResult {
  items: number;
  limits: Limits;
  outage: { atSeconds: number; forSeconds: number };
  /** Chat completions that reached the provider while it was down (the breakers' probes and in-flight retries). */
  callsDuringOutage: number;
  /** Extract-model answers per second before the outage, in its steady part. */
  rateBefore: number;
  /** From the provider's recovery to the first 5-second bucket at ≥ 90 % of the rate before. */
  recoverySeconds: number | undefined;
  deadLettered: number;
  published: number;
  lost: number;
  breakerOpened: number;
}

/** A 60 s provider outage (503 on every call) in the middle of an RPM-bound run, with the default breaker. */
export async function measureOutage(progress: Progress): Promise<OutageResult> {
  const items = 200;
  const limits: Limits = { [EXTRACT_MODEL]: { rpm: 120, tpm: UNLIMITED }, [DRAFT_MODEL]: { rpm: 300, tpm: UNLIMITED } };
  const outage = { atSeconds: 20, forSeconds: 60 };
  const run = requireInvariants(
    await benchRun(
      {
        name: 'outage',
        items,
        latencyMs: LATENCY,
        faults: { limits: { perModel: limits } },
        config: { ...stagesConfig({ extract: 8, draft: 8 }), limits },
        providerOutages: [{ ...outage, mode: 'error' }],
        drainTimeoutSeconds: 600,
      },
      progress,
    ),
  );
  const bucketMs = 5000;
  const series = rateSeries(run.calls, EXTRACT_MODEL, bucketMs);
  const before = series.slice(1, Math.floor((outage.atSeconds * 1000) / bucketMs));
  const rateBefore = before.length === 0 ? 0 : before.reduce((a, b) => a + b, 0) / before.length;
  const endBucket = Math.ceil(((outage.atSeconds + outage.forSeconds) * 1000) / bucketMs);
  const recovered = series.findIndex((count, bucket) => bucket >= endBucket && count >= 0.9 * rateBefore);
  return {
    items,
    limits,
    outage,
    callsDuringOutage: run.report.simulator?.callsDuringOutage ?? 0,
    rateBefore: rateBefore / (bucketMs / 1000),
    recoverySeconds:
      recovered < 0 ? undefined : ((recovered + 1) * bucketMs) / 1000 - (outage.atSeconds + outage.forSeconds),
    deadLettered: run.report.counts.byState.DEAD_LETTER ?? 0,
    published: run.report.counts.byState.PUBLISHED ?? 0,
    lost:
      run.report.counts.valid -
      (run.report.counts.byState.PUBLISHED ?? 0) -
      (run.report.counts.byState.DEAD_LETTER ?? 0),
    breakerOpened: Object.values(run.report.counts.breakerOpens).reduce((sum, count) => sum + count, 0),
  };
}
