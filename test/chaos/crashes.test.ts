import { describe, expect, it } from 'vitest';
import { CHAOS_CRASH_POINTS } from '#local/chaos/scenario.ts';
import { failedChecks, runScenario } from './run-scenario.ts';

describe('Chaos: crashes and redelivery', () => {
  it('loses nothing and pays nothing twice when the stages crash at every point and deletes are lost', async () => {
    // Act
    const report = await runScenario('crashes');

    // Assess
    expect(failedChecks(report)).toEqual([]);
    for (const point of CHAOS_CRASH_POINTS) expect(report.crashes.byPoint[point], point).toBeGreaterThan(0);
    expect(report.crashes.byStage.draft?.['after-send']).toBeGreaterThan(0);
    expect(report.counts.ledger.rebilled).toBeGreaterThan(0);
    expect(report.counts.byState.PUBLISHED).toBe(report.counts.valid);
  }, 150_000);

  it('works each duplicated item once and dead-letters every invalid one at once, for free', async () => {
    // Act
    const report = await runScenario('duplicates-poison');

    // Assess
    expect(failedChecks(report)).toEqual([]);
    expect(report.counts.duplicatesSent).toBeGreaterThan(0);
    expect(report.counts.poison).toBeGreaterThan(0);
    expect(report.counts.deadLetters['extract InvalidItemError']).toBe(report.counts.poison);
    expect(report.counts.byState.PUBLISHED).toBe(report.counts.valid);
    expect(report.counts.events.total).toBe(report.counts.valid);
  }, 120_000);
});
