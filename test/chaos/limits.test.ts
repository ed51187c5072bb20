import { describe, expect, it } from 'vitest';
import { failedChecks, runScenario } from './run-scenario.ts';

describe('Chaos: limits', () => {
  it('keeps every minute within the configured limits and honours the 429s of a provider that lowered them', async () => {
    // Act
    const report = await runScenario('rate-limits');

    // Assess
    expect(failedChecks(report)).toEqual([]);
    const rateLimited = report.simulator?.rateLimited ?? { requests: 0, tokens: 0 };
    expect(rateLimited.requests + rateLimited.tokens).toBeGreaterThan(0);
    expect(report.metrics.llm.limiterWaits).toBeGreaterThan(0);
    expect(report.counts.byState.PUBLISHED).toBe(report.counts.accepted);
  }, 200_000);

  it('never spends more than the daily budget, and leaves the items it cannot afford waiting, not failed', async () => {
    // Act
    const report = await runScenario('budget');

    // Assess
    expect(failedChecks(report)).toEqual([]);
    expect(report.counts.parked).toBeGreaterThan(0);
    expect(report.counts.byState.PUBLISHED).toBeGreaterThan(0);
    expect(report.counts.byState.DEAD_LETTER).toBe(0);
    const spent = report.counts.budget.reduce((sum, day) => Math.max(sum, day.committedUsd), 0);
    expect(spent).toBeLessThanOrEqual(0.04);
  }, 120_000);

  it('follows a provider whose limit halves mid-run: 429s at most 1 % after the drop, 90 % of the new limit used', async () => {
    // Act
    const report = await runScenario('limit-halved');

    // Assess
    expect(failedChecks(report)).toEqual([]);
    const names = report.checks.map((check) => check.name);
    expect(names).toContain('rateLimitedAfterDrop gpt-4o-mini');
    expect(names).toContain('throughputAfterDrop gpt-4o-mini');
    expect(report.counts.byState.PUBLISHED).toBe(report.counts.accepted);
  }, 300_000);
});
