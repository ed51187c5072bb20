import { describe, expect, it } from 'vitest';
import { failedChecks, runScenario } from './run-scenario.ts';

describe('Chaos: outages', () => {
  it('rides out a 60-second provider outage behind the breakers and finishes every item after it', async () => {
    // Act
    const report = await runScenario('provider-outage');

    // Assess
    expect(failedChecks(report)).toEqual([]);
    expect(report.simulator?.callsDuringOutage).toBeGreaterThan(0);
    expect(report.simulator?.hung).toBeGreaterThan(0);
    expect(report.simulator?.errorsServed['503']).toBeGreaterThan(0);
    expect(Object.values(report.counts.breakerOpens).reduce((sum, n) => sum + n, 0)).toBeGreaterThan(0);
    expect(report.counts.byState.PUBLISHED).toBe(report.counts.accepted);
  }, 200_000);

  it('drafts without history while the memory store is down, and with history again after', async () => {
    // Act
    const report = await runScenario('memory-outage');

    // Assess
    expect(failedChecks(report)).toEqual([]);
    expect(report.timeline.memory.lookupsDuringOutage).toBeGreaterThan(0);
    const noHistory = report.counts.degraded.NO_HISTORY ?? 0;
    expect(noHistory).toBeGreaterThan(0);
    expect(noHistory).toBeLessThan(report.counts.byState.PUBLISHED);
    expect(report.counts.breakerOpens.memory).toBeGreaterThan(0);
    expect(report.counts.byState.PUBLISHED).toBe(report.counts.accepted);
  }, 120_000);
});
