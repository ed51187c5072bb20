import { parseIntakeMessage } from '#functions/extract/extract.ts';
import type { SupervisorAction } from '#functions/supervisor/actions.ts';
import type { LookReport } from '#functions/supervisor/supervisor.ts';
import { queueOutputKeys } from '#lib/outputs.ts';
import { type DevRuntime, type DevRuntimeOptions, startDevRuntime } from '#local/dev-runtime.ts';
import { LocalMetrics, type MetricsSummary, summariseMetrics } from '#local/local-metrics.ts';
import type { PollerStats } from '#local/poller.ts';
import { type PipelineSnapshot, queuedForStages, readSnapshot } from '#local/progress.ts';
import { queueDepth, sendBodies } from '#ops/queue-io.ts';
import { requiredOutput, scanAll } from '#ops/table-reads.ts';
import { itemsWithoutHistory } from '#shared/degraded-items.ts';
import type { ItemRecord } from '#shared/item-store.ts';
import type { Stage } from '#shared/runtime-config.ts';
import { isCallRow, itemPartition } from '#shared/table-keys.ts';
import type { CallRecord, LlmSimulatorOptions, SimulatorStats } from '#sim/server.ts';
import type { CheckResult } from './check-result.ts';
import { type CheckCounts, checkRun, type ItemEvidence } from './checker.ts';
import { ChaosCrashes, type CrashReport } from './crashes.ts';
import type { LateDuplicates } from './evidence.ts';
import { chaosMessages } from './items.ts';
import type { Scenario } from './scenario.ts';
import { ChaosTimeline, type TimelineReport } from './timeline.ts';

/**
 * Runs a chaos scenario end to end on the embedded runtime: the real handlers, emulators and simulator of
 * `sluice dev`, with every fault of the scenario injected at once, then the checker's verdict from the outside.
 */

export interface ChaosProgress {
  phase: 'starting' | 'sending' | 'running' | 'checking';
  /** Since the pipeline started consuming (0 before). */
  elapsedMs: number;
  /** Items the intake accepted (0 before they are sent). */
  total: number;
  snapshot?: PipelineSnapshot | undefined;
  crashes: number;
  simulator?: SimulatorStats | undefined;
  memoryDown: boolean;
  providerOutage: boolean;
}

export interface RunChaosOptions {
  /** Told about the run's progress about once a second. */
  onProgress?: (progress: ChaosProgress) => void;
  /** @default 1000 */
  progressIntervalMs?: number;
  /** Log level of the stage functions. @default 'SILENT' */
  logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  /** Benchmarks: an LLM client in place of the default one, and observers of the SDK clients and provider calls. */
  runtime?: Pick<DevRuntimeOptions, 'llm' | 'instrument' | 'sdkRetries'> & { onCall?: LlmSimulatorOptions['onCall'] };
  /** Benchmarks: told when the pipeline starts consuming, with the runtime. */
  onStart?: (dev: DevRuntime) => void;
}

export interface ChaosReport {
  scenario: { name: string; description?: string | undefined; seed: number };
  startedAt: string;
  /** True when every check passed. */
  ok: boolean;
  checks: CheckResult[];
  counts: CheckCounts;
  durations: { setupMs: number; sendMs: number; runMs: number; checkMs: number; totalMs: number };
  simulator: SimulatorStats | undefined;
  crashes: CrashReport;
  timeline: TimelineReport;
  pollers: (PollerStats & { stage: Stage })[];
  /** What the functions' metrics (EMF) said, as a dashboard would sum them. */
  metrics: MetricsSummary;
  /** The state-table records of the items behind each failed check. */
  evidence: Record<string, ItemEvidence[]>;
  /** What the supervisor did to each stage, look by look (`concurrency down` with `6 → 4: …`, `paused`, …). */
  supervisorActions: ({ at: string; stage: Stage } & SupervisorAction)[];
}

/** How long a pipeline whose remaining items all wait for the budget must stay unchanged to count as settled. */
const PARKED_QUIET_MS = 10_000;
/**
 * A run that keeps changing gives up after this many drain timeouts in all: the drain timeout counts time without
 * progress, so a busy machine slows a run without failing it, and this bound still ends one that loops forever.
 */
const DRAIN_TIMEOUTS_IN_ALL = 10;

/**
 * @example
 * const report = await runChaos(await loadScenario('chaos/scenarios/crashes.json'));
 * report.checks.filter((check) => !check.ok);
 */
export async function runChaos(scenario: Scenario, options: RunChaosOptions = {}): Promise<ChaosReport> {
  const began = Date.now();
  const interval = options.progressIntervalMs ?? 1000;
  const crashes = new ChaosCrashes(scenario.crashes, scenario.seed);
  const timeline = new ChaosTimeline(scenario);
  const metrics = new LocalMetrics();
  const stageOfMessage = new Map<string, Stage>();
  const progress = (update: Omit<ChaosProgress, 'crashes' | 'memoryDown' | 'providerOutage'>) =>
    options.onProgress?.({
      ...update,
      crashes: crashes.report().total,
      memoryDown: timeline.memoryDown(),
      providerOutage: timeline.providerDown(),
    });

  progress({ phase: 'starting', elapsedMs: 0, total: 0 });
  const providerCalls: CallRecord[] = [];
  const looks: LookReport[] = [];
  const dev = await startDevRuntime({
    config: scenario.config,
    simulator: {
      seed: scenario.seed,
      ...(scenario.simulator.latencyMs !== undefined && { latencyMs: scenario.simulator.latencyMs }),
      faults: scenario.simulator.faults,
      onCall: (call) => {
        providerCalls.push(call);
        options.runtime?.onCall?.(call);
      },
    },
    onSupervisorLook: (look) => looks.push(look),
    wrapSupervisorMemory: (memory) => timeline.memory(memory),
    ...(options.runtime?.llm && { llm: options.runtime.llm }),
    ...(options.runtime?.instrument && { instrument: options.runtime.instrument }),
    ...(options.runtime?.sdkRetries !== undefined && { sdkRetries: options.runtime.sdkRetries }),
    logLevel: options.logLevel ?? 'SILENT',
    emf: metrics.sink,
    decorate: (runtime) => ({
      ...runtime,
      faults: crashes.forStage(runtime.config.stage),
      items: crashes.observe(runtime.items),
      memory: timeline.memory(runtime.memory),
    }),
    loseDeletes: (messageIds) => {
      const stage = messageIds.map((id) => stageOfMessage.get(id)).find((found) => found !== undefined);
      return stage !== undefined && crashes.loseDeletes(stage, messageIds);
    },
  });
  try {
    const setupMs = Date.now() - began;
    const queueStage = new Map<string, Stage>(
      dev.pipeline.stages.map((stage) => [
        requiredOutput(dev.outputs, queueOutputKeys(stage.queueKey).url),
        stage.name,
      ]),
    );
    for (const poller of dev.local.pollers) {
      const stage = queueStage.get(poller.queueUrl);
      if (stage === undefined) continue;
      poller.on('invocationStart', (event) => {
        for (const id of event.messageIds) stageOfMessage.set(id, stage);
      });
    }

    progress({ phase: 'sending', elapsedMs: 0, total: 0 });
    const sendStarted = Date.now();
    const messages = await chaosMessages(scenario);
    const sent = await sendBodies(dev.sqs, requiredOutput(dev.outputs, 'IntakeQueueUrl'), messages.bodies);
    const accepted = new Set<string>();
    const poison = new Set<string>();
    /** The intake body of each item whose body names it (a body without a usable id is a new item every time). */
    const bodyOf = new Map<string, string>();
    for (const message of sent) {
      const parsed = parseIntakeMessage(message.body, message.messageId);
      const itemId = parsed.ok ? parsed.item.id : parsed.itemId;
      accepted.add(itemId);
      if (messages.poisonBodies.has(message.body)) poison.add(itemId);
      if (itemId !== `message-${message.messageId}`) bodyOf.set(itemId, message.body);
    }
    const sendMs = Date.now() - sendStarted;

    const runStarted = Date.now();
    dev.start();
    options.onStart?.(dev);
    timeline.start(dev.simulator);
    const onSnapshot = (snapshot: PipelineSnapshot) =>
      progress({
        phase: 'running',
        elapsedMs: Date.now() - runStarted,
        total: accepted.size,
        snapshot,
        simulator: dev.simulator?.stats(),
      });
    let settlement = await settle(dev, scenario, accepted.size, runStarted, onSnapshot, interval);
    let lateDuplicates: LateDuplicates | undefined;
    if (settlement.settled && scenario.lateDuplicates !== undefined) {
      const stageCalls = () => providerCalls.filter((call) => call.caller === undefined).length;
      lateDuplicates = await sendLateDuplicates(dev, scenario.lateDuplicates.copies, bodyOf, stageCalls());
      settlement = await settle(dev, scenario, accepted.size, runStarted, onSnapshot, interval);
      lateDuplicates.stageCallsAfter = stageCalls();
    }
    const runMs = Date.now() - runStarted;
    timeline.stop();
    // Nothing may move while the checker reads: the supervisor and the event sources stop first, waiting for what
    // is in flight.
    await dev.supervisor.stop();
    await Promise.all(dev.local.pollers.map((poller) => poller.stop()));

    progress({ phase: 'checking', elapsedMs: runMs, total: accepted.size, simulator: dev.simulator?.stats() });
    const checkStarted = Date.now();
    const simulator = dev.simulator?.stats();
    const pollers = dev.local.pollers.map((poller) => ({
      ...poller.stats,
      stage: queueStage.get(poller.queueUrl) ?? ('extract' as const),
    }));
    const outcome = await checkRun({
      scenario,
      pipeline: dev.pipeline,
      sqs: dev.sqs,
      dynamo: dev.dynamo,
      outputs: dev.outputs,
      accepted: { itemIds: [...accepted], poisonItemIds: [...poison] },
      messages: { sent: sent.length, duplicates: messages.duplicates },
      crashes: Object.assign(crashes.report(), { forItem: (itemId: string) => crashes.forItem(itemId) }),
      simulator,
      timeline: timeline.report(),
      pollerTimeouts: pollers.reduce((sum, stats) => sum + stats.timeouts, 0),
      settled: settlement.settled,
      ...(settlement.settled ? {} : { unsettled: settlement.why }),
      elapsedMs: runMs,
      probeCallsAnswered: providerCalls.filter((call) => call.caller !== undefined && call.status === 200).length,
      selfHealing: { startedAt: runStarted, calls: providerCalls, looks },
      ...(lateDuplicates === undefined ? {} : { lateDuplicates }),
    });
    const checkMs = Date.now() - checkStarted;
    return {
      scenario: { name: scenario.name, description: scenario.description, seed: scenario.seed },
      startedAt: new Date(began).toISOString(),
      ok: outcome.ok,
      checks: outcome.checks,
      counts: outcome.counts,
      durations: { setupMs, sendMs, runMs, checkMs, totalMs: Date.now() - began },
      simulator,
      crashes: crashes.report(),
      timeline: timeline.report(),
      pollers,
      metrics: summariseMetrics(metrics),
      evidence: outcome.evidence,
      supervisorActions: looks.flatMap((look) =>
        look.stages.flatMap((stage) => stage.actions.map((action) => ({ at: look.at, stage: stage.stage, ...action }))),
      ),
    };
  } finally {
    timeline.stop();
    await dev.stop();
  }
}

/** Whether the pipeline settled, and if not why the wait ended. */
type Settlement = { readonly settled: true } | { readonly settled: false; readonly why: string };

/**
 * Waits until every accepted item is PUBLISHED or DEAD_LETTER and the intake and draft queues are empty — or,
 * when the scenario means the budget to run out, until the items left all wait for it with their messages
 * delayed and nothing has changed for a while. Gives up when nothing has moved for the drain timeout (no item
 * changed state, no queue count changed, no LLM call was made), or after {@link DRAIN_TIMEOUTS_IN_ALL} drain
 * timeouts in all. Progress, not the clock, is what counts, so a slow machine does not fail a run that is moving.
 */
async function settle(
  dev: DevRuntime,
  scenario: Scenario,
  total: number,
  startedAt: number,
  onSnapshot: (snapshot: PipelineSnapshot) => void,
  intervalMs: number,
): Promise<Settlement> {
  const timeoutMs = scenario.drainTimeoutSeconds * 1000;
  const deadline = startedAt + timeoutMs * DRAIN_TIMEOUTS_IN_ALL;
  const pollMs = Math.min(500, intervalMs);
  let lastShown = 0;
  let quietSince: { key: string; at: number } | undefined;
  let moved = { key: '', at: Date.now() };
  for (;;) {
    const snapshot = await readSnapshot(dev);
    const now = Date.now();
    const progress = JSON.stringify([snapshot.byState, snapshot.queues, snapshot.deadLetters, snapshot.llm.calls]);
    if (progress !== moved.key) moved = { key: progress, at: now };
    if (now - lastShown >= intervalMs) {
      lastShown = now;
      onSnapshot(snapshot);
    }
    const done = dev.pipeline.terminalStates.reduce((sum, state) => sum + (snapshot.byState[state] ?? 0), 0);
    if (
      done >= total &&
      queuedForStages(snapshot) === 0 &&
      !(scenario.expect.reenriched && (await awaitingReenrichment(dev, scenario)))
    ) {
      onSnapshot(snapshot);
      return { settled: true };
    }
    if (scenario.expect.budgetExhausted && (await allWaitingForBudget(dev))) {
      const key = JSON.stringify(snapshot);
      if (quietSince?.key !== key) quietSince = { key, at: now };
      else if (now - quietSince.at >= PARKED_QUIET_MS) {
        onSnapshot(snapshot);
        return { settled: true };
      }
    } else {
      quietSince = undefined;
    }
    if (now - moved.at >= timeoutMs) {
      onSnapshot(snapshot);
      return { settled: false, why: `nothing moved for the ${scenario.drainTimeoutSeconds} s drain timeout` };
    }
    if (now >= deadline) {
      onSnapshot(snapshot);
      return {
        settled: false,
        why: `still moving after ${DRAIN_TIMEOUTS_IN_ALL} drain timeouts (${(timeoutMs * DRAIN_TIMEOUTS_IN_ALL) / 1000} s) in all`,
      };
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/**
 * Sends every dead-lettered item's messages again, `copies` times each, after the run settled: the intake message
 * of each item whose body names it, and the draft hand-over of each item the draft stage dead-lettered. Returns
 * what the items were before, for the checker.
 */
async function sendLateDuplicates(
  dev: DevRuntime,
  copies: number,
  bodyOf: ReadonlyMap<string, string>,
  stageCallsBefore: number,
): Promise<LateDuplicates> {
  const table = requiredOutput(dev.outputs, 'StateTableName');
  const rows = await scanAll(dev.dynamo, table);
  // Item and ledger records are written only by sluice's own modules, so their shape is known from their keys.
  const dead = rows
    .filter((row) => row.sk === 'ITEM' && row.state === 'DEAD_LETTER')
    .map((row) => row as unknown as ItemRecord)
    .filter((item) => bodyOf.has(item.itemId));
  const ledgerEntries = (itemId: string) =>
    rows.filter((row) => row.pk === itemPartition(itemId) && isCallRow(row)).length;
  const intake: string[] = [];
  const draft: string[] = [];
  for (const item of dead) {
    for (let copy = 0; copy < copies; copy += 1) {
      intake.push(bodyOf.get(item.itemId) ?? '');
      if (item.deadLetter?.stage === 'draft') draft.push(JSON.stringify({ itemId: item.itemId }));
    }
  }
  await sendBodies(dev.sqs, requiredOutput(dev.outputs, 'IntakeQueueUrl'), intake);
  await sendBodies(dev.sqs, requiredOutput(dev.outputs, 'DraftQueueUrl'), draft);
  return {
    sent: intake.length + draft.length,
    items: dead.map((item) => ({
      itemId: item.itemId,
      version: item.version,
      deadLetterId: item.deadLetter?.deadLetterId,
      ledgerEntries: ledgerEntries(item.itemId),
    })),
    stageCallsBefore,
    stageCallsAfter: stageCallsBefore,
  };
}

/** Whether an item published without history may still be re-queued by the supervisor. */
async function awaitingReenrichment(dev: DevRuntime, scenario: Scenario): Promise<boolean> {
  const { maxPerItem } = scenario.pipeline.supervisor.reenrich;
  const items = await itemsWithoutHistory(dev.dynamo, requiredOutput(dev.outputs, 'StateTableName'), {
    max: 1,
    accept: (item) => item.autoReenrichments < maxPerItem,
  });
  return items.length > 0;
}

/** No message visible or in flight, and every unfinished item waits (deferred) with a delayed message to wake it. */
async function allWaitingForBudget(dev: DevRuntime): Promise<boolean> {
  let delayed = 0;
  for (const key of dev.pipeline.stages.map((stage) => queueOutputKeys(stage.queueKey).url)) {
    const depth = await queueDepth(dev.sqs, requiredOutput(dev.outputs, key));
    if (depth.visible > 0 || depth.inFlight > 0) return false;
    delayed += depth.delayed;
  }
  // Item records are written only by the item store, so their shape is known.
  const items = (await scanAll(dev.dynamo, requiredOutput(dev.outputs, 'StateTableName'))).filter(
    (row) => row.sk === 'ITEM',
  ) as unknown as ItemRecord[];
  const unfinished = items.filter((item) => !dev.pipeline.terminalStates.includes(item.state));
  return (
    unfinished.length > 0 &&
    unfinished.length <= delayed &&
    unfinished.every((item) => item.deferredSince !== undefined)
  );
}
