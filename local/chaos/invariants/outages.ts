import { stageConfigOf, stageModelsOf } from '#lib/config.ts';
import { NO_HISTORY } from '#shared/degraded-items.ts';
import type { RunEvidence } from '../evidence.ts';
import type { Scenario } from '../scenario.ts';
import { type Finding, listed } from './finding.ts';

/** Outages: calls stop until the breaker's probes find the provider (or the memory store) back. */

/**
 * Most failures a breaker takes to open: failures in a row at low traffic, or up to `minCalls` recent calls once
 * the window holds that many (they must be mostly failures).
 */
function failuresToOpen(config: Scenario['pipeline']): number {
  return Math.max(config.breaker.failureThreshold, config.breaker.minCalls);
}

/** Per model: the stages that call it (their summed concurrency). */
function modelConcurrency({ config, pipeline }: RunEvidence): Map<string, number> {
  const byModel = new Map<string, number>();
  for (const stage of pipeline.stages) {
    const settings = stageConfigOf(config, stage.name);
    const models = new Set([...stageModelsOf(settings), config.llm.fallbackModel]);
    for (const model of models) {
      if (model !== undefined) byModel.set(model, (byModel.get(model) ?? 0) + settings.maxConcurrency);
    }
  }
  return byModel;
}

/**
 * Calls that may reach a provider that is down: per model, the failures that open its breaker, the callers that
 * were already past the breaker when it opened, and one probe per cooldown.
 */
export function providerOutageCheck(run: RunEvidence): Finding {
  const { config, scenario, input } = run;
  const observed = input.simulator?.callsDuringOutage ?? 0;
  const durations = [
    ...input.timeline.providerOutages.map((outage) => outage.endMs - outage.startMs),
    ...(scenario.simulator.faults.outages ?? []).map((window) => window.endMs - window.startMs),
  ];
  if (durations.length === 0) {
    return {
      name: 'callsDuringOutages',
      ok: observed === 0,
      observed,
      limit: 0,
      detail: 'no provider outage in this scenario',
    };
  }
  const cooldownMs = config.breaker.cooldownSeconds * 1000;
  let allowed = 0;
  for (const durationMs of durations) {
    for (const concurrency of modelConcurrency(run).values()) {
      allowed += failuresToOpen(config) + concurrency + Math.ceil(durationMs / cooldownMs) + 1;
    }
  }
  return {
    name: 'callsDuringOutages',
    ok: observed <= allowed,
    observed,
    limit: allowed,
    detail: `${durations.length} outage(s) of ${durations.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(', ')}: per model, up to ${failuresToOpen(config)} failures to open the breaker, the callers already past it, and one probe per ${config.breaker.cooldownSeconds} s cooldown`,
  };
}

export function memoryOutageCheck({ config, input, pipeline }: RunEvidence): Finding {
  const { memory } = input.timeline;
  if (memory.windows.length === 0) {
    return {
      name: 'memoryCallsDuringOutages',
      ok: true,
      observed: memory.lookupsDuringOutage,
      limit: null,
      detail: 'no memory outage in this scenario',
    };
  }
  const cooldownMs = config.breaker.cooldownSeconds * 1000;
  const rememberingConcurrency = pipeline.stages
    .filter((stage) => stage.usesMemory)
    .reduce((sum, stage) => sum + stageConfigOf(config, stage.name).maxConcurrency, 0);
  const allowed = memory.windows.reduce(
    (sum, window) =>
      sum +
      failuresToOpen(config) +
      rememberingConcurrency +
      Math.ceil((window.endMs - window.startMs) / cooldownMs) +
      1,
    0,
  );
  return {
    name: 'memoryCallsDuringOutages',
    ok: memory.lookupsDuringOutage <= allowed,
    observed: memory.lookupsDuringOutage,
    limit: allowed,
    detail: `memory lookups while the memory store was down (${memory.lookups} in all); the memory breaker should stop them after ${failuresToOpen(config)} failures`,
  };
}

/** Scenarios that expect re-enrichment: every item drafted without history was redrafted with it. */
export function reenrichedWithHistoryCheck({ scenario, items }: RunEvidence): Finding | undefined {
  if (!scenario.expect.reenriched) return undefined;
  const left = [...items.values()]
    .filter((item) => item.state === 'PUBLISHED' && (item.degraded ?? []).includes(NO_HISTORY))
    .map((item) => item.itemId);
  const redrafted = [...items.values()].filter((item) => (item.generation ?? 0) > 0).length;
  return {
    name: 'reenrichedWithHistory',
    ok: left.length === 0 && redrafted > 0,
    observed: left.length,
    limit: 0,
    detail:
      left.length === 0
        ? `${redrafted} item(s) drafted without history were redrafted with history; none is left without`
        : `${left.length} published item(s) still drafted without history: ${listed(left)}`,
    involved: left,
  };
}
