import type { ShippedStage as Stage } from '#functions/pipeline.ts';
import { PIPELINE, SHIPPED_STAGES } from '#functions/pipeline.ts';
import { type SluiceConfig, stageConfigOf } from '#lib/config.ts';
import { PUBLISHED_QUEUE_KEY, queueOutputKeys } from '#lib/outputs.ts';
import { type ChaosReport, runChaos } from '#local/chaos/runner.ts';
import { parseScenario } from '#local/chaos/scenario.ts';
import { cdkJsonConfig } from '#local/dev-runtime.ts';
import { stageOf } from '#shared/pipeline.ts';
import type { CallRecord } from '#sim/server.ts';
import { RequestCounter, type RequestTally } from './aws-requests.ts';

/**
 * One benchmark run: a chaos-style scenario (items, config over cdk.json, simulator latency, limits and
 * outages) on the embedded runtime with the real handlers, observed from three sides — the provider's call log,
 * every AWS request the functions and event sources make, and each invocation's duration — and checked by
 * the chaos checker, so a benchmark that loses an item fails instead of reporting a number.
 */

export interface BenchRunSpec {
  name: string;
  items: number;
  /** Settings merged over cdk.json's `sluice` context. */
  config: Record<string, unknown>;
  latencyMs: unknown;
  /** The simulator's faults from the start (its enforced limits). */
  faults?: Record<string, unknown>;
  providerOutages?: { atSeconds: number; forSeconds: number; mode?: 'error' | 'hang' }[];
  /** The naive baseline: the openai SDK's own retries instead of the stage's. */
  sdkRetries?: number;
  drainTimeoutSeconds: number;
}

export interface StageInvocations {
  invocations: number;
  /** Sum of handler durations, LLM waits included. */
  durationMs: number;
  memoryMb: number;
}

export interface BenchRun {
  spec: BenchRunSpec;
  report: ChaosReport;
  /** Every chat completion the provider answered, times relative to the pipeline's start. */
  calls: CallRecord[];
  requests: RequestTally[];
  invocations: Record<Stage, StageInvocations>;
  /** Models of each stage, from the effective config. */
  models: Record<Stage, string>;
  /** When the pipeline started consuming, on the simulator's clock (Date.now). */
  startedAt: number;
  /** The effective pipeline config. */
  pipeline: SluiceConfig;
}

/** The checks a run failed, as `name: detail` lines (none for a run that kept every invariant). */
export function failedChecks(run: BenchRun): string[] {
  return run.report.checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.detail}`);
}

/** Fails a run that lost, duplicated or overspent anything: its numbers would mean nothing. */
export function requireInvariants(run: BenchRun): BenchRun {
  const failed = failedChecks(run);
  if (failed.length > 0) throw new Error(`benchmark run ${run.spec.name} broke an invariant: ${failed.join('; ')}`);
  return run;
}

export async function benchRun(spec: BenchRunSpec, onProgress?: (line: string) => void): Promise<BenchRun> {
  const scenario = parseScenario(
    {
      name: spec.name,
      seed: 7,
      items: { count: spec.items },
      config: spec.config,
      simulator: { latencyMs: spec.latencyMs, ...(spec.faults && { faults: spec.faults }) },
      providerOutages: spec.providerOutages ?? [],
      drainTimeoutSeconds: spec.drainTimeoutSeconds,
    },
    await cdkJsonConfig(),
  );
  const calls: CallRecord[] = [];
  const queues = new Map<string, { role: string; stage: Stage | undefined }>();
  let memoryTable = '';
  const counter = new RequestCounter({
    stageOfQueue: (url) => queues.get(url)?.stage,
    queueRole: (url) => queues.get(url)?.role ?? 'other queue',
    memoryTable: () => memoryTable,
  });
  const settings = SHIPPED_STAGES.map((stage) => [stage, stageConfigOf(scenario.pipeline, stage)] as const);
  const invocations = Object.fromEntries(
    settings.map(([stage, { memoryMb }]) => [stage, { invocations: 0, durationMs: 0, memoryMb }]),
  ) as Record<Stage, StageInvocations>;
  let startedAt = 0;
  const report = await runChaos(scenario, {
    runtime: {
      instrument: (client, owner) => counter.instrument(client, owner),
      onCall: (call) => calls.push(call),
      ...(spec.sdkRetries !== undefined && { sdkRetries: spec.sdkRetries }),
    },
    onStart: (dev) => {
      startedAt = Date.now();
      const outputs = dev.outputs;
      // Each stage's queue is named by its queue key (`intake`, `draft`), its DLQ after it (`intake DLQ`).
      const roles: [string, string, Stage | undefined][] = [
        ...SHIPPED_STAGES.map((name): [string, string, Stage] => {
          const { queueKey } = stageOf(PIPELINE, name);
          return [queueOutputKeys(queueKey).url, queueKey.toLowerCase(), name];
        }),
        [queueOutputKeys(PUBLISHED_QUEUE_KEY).url, PUBLISHED_QUEUE_KEY.toLowerCase(), undefined],
        ...PIPELINE.stages.map((stage): [string, string, undefined] => [
          queueOutputKeys(stage.queueKey).deadLetterUrl,
          `${stage.queueKey.toLowerCase()} DLQ`,
          undefined,
        ]),
      ];
      for (const [key, role, stage] of roles) {
        const url = outputs[key];
        if (url !== undefined) queues.set(url, { role, stage });
      }
      memoryTable = outputs.MemoryTableName ?? '';
      counter.reset();
      calls.length = 0;
      for (const poller of dev.local.pollers) {
        const stage = queues.get(poller.queueUrl)?.stage;
        const tally = stage === undefined ? undefined : invocations[stage];
        if (tally === undefined) continue;
        poller.on('invocationEnd', (event) => {
          tally.invocations += 1;
          tally.durationMs += event.durationMs;
        });
      }
    },
    onProgress: (progress) => {
      if (progress.phase !== 'running' || progress.snapshot === undefined) return;
      const published = progress.snapshot.byState.PUBLISHED ?? 0;
      onProgress?.(
        `${spec.name}: ${published}/${progress.total} published, ${Math.round(progress.elapsedMs / 1000)} s`,
      );
    },
    progressIntervalMs: 5000,
  });
  return {
    spec,
    report,
    calls: calls.map((call) => ({
      ...call,
      receivedAt: call.receivedAt - startedAt,
      answeredAt: call.answeredAt - startedAt,
    })),
    requests: counter.tallies(),
    invocations,
    models: Object.fromEntries(settings.map(([stage, { model }]) => [stage, model])) as Record<Stage, string>,
    pipeline: scenario.pipeline,
    startedAt,
  };
}
