import { describe, expect, it } from 'vitest';
import { failedChecks, runScenario } from './run-scenario.ts';

describe('Chaos: outages', () => {
  it('rides out a 60-second provider outage: the supervisor pauses the stages, probes alone, resumes, and every item finishes', async () => {
    // Act
    const report = await runScenario('provider-outage');

    // Assess
    expect(failedChecks(report)).toEqual([]);
    expect(report.simulator?.callsDuringOutage).toBeGreaterThan(0);
    expect(report.simulator?.hung).toBeGreaterThan(0);
    expect(report.simulator?.errorsServed['503']).toBeGreaterThan(0);
    expect(Object.values(report.counts.breakerOpens).reduce((sum, n) => sum + n, 0)).toBeGreaterThan(0);
    expect(report.counts.byState.PUBLISHED).toBe(report.counts.accepted);
    const selfHealing = report.checks.filter((check) =>
      ['pausedDuringOutage', 'onlyProbesWhilePaused', 'resumedAfterOutage'].includes(check.name),
    );
    expect(report.metrics.supervisor.autoPauses).toBeGreaterThan(0);
    expect(report.metrics.supervisor.autoResumes).toBe(report.metrics.supervisor.autoPauses);
    expect(selfHealing.map((check) => [check.name, check.ok])).toEqual([
      ['pausedDuringOutage', true],
      ['onlyProbesWhilePaused', true],
      ['resumedAfterOutage', true],
    ]);
  }, 200_000);

  it('drafts without history while the memory store is down, then redrafts every such item with history', async () => {
    // Act
    const report = await runScenario('memory-outage');

    // Assess: items were drafted without history, and none is left so
    expect(failedChecks(report)).toEqual([]);
    expect(report.timeline.memory.lookupsDuringOutage).toBeGreaterThan(0);
    expect(report.checks.find((check) => check.name === 'reenrichedWithHistory')?.ok).toBe(true);
    expect(report.counts.degraded.NO_HISTORY ?? 0).toBe(0);
    expect(report.metrics.supervisor.itemsReenriched).toBeGreaterThan(0);
    expect(report.counts.breakerOpens.memory).toBeGreaterThan(0);
    expect(report.counts.byState.PUBLISHED).toBe(report.counts.accepted);
  }, 120_000);
});
