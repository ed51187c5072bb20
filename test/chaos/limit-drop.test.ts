import { describe, expect, it } from 'vitest';
import { failedChecks, runScenario } from './run-scenario.ts';

describe('Chaos: a provider limit that drops', () => {
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
