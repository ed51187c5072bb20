import { describe, expect, it } from 'vitest';
import { failedChecks, runScenario } from './run-scenario.ts';

describe('Chaos: limits', () => {
  it('keeps every minute within the configured limits and follows a provider that lowered them without a 429 storm', async () => {
    // Act
    const report = await runScenario('rate-limits');

    // Assess: the limiter held the callers back; the provider, which lowered its limits to a quarter, refused at
    // most the calls in flight when its window filled (the answers' headers say so before it has to refuse)
    expect(failedChecks(report)).toEqual([]);
    const rateLimited = report.simulator?.rateLimited ?? { requests: 0, tokens: 0 };
    expect(rateLimited.requests + rateLimited.tokens).toBeLessThanOrEqual(3);
    expect(report.metrics.llm.limiterWaits).toBeGreaterThan(0);
    expect(report.counts.byState.PUBLISHED).toBe(report.counts.accepted);
  }, 200_000);

  it('stays under a TPM limit counted at admission with at most 1 % of calls answered 429, without cutting concurrency', async () => {
    // Act
    const report = await runScenario('tpm-admission');

    // Assess: the provider charged every call its prompt estimate plus max_tokens when it admitted it; the limiter
    // charged the same, so the provider seldom had to refuse, and never admitted more than its limit in a minute
    expect(failedChecks(report)).toEqual([]);
    const stats = report.simulator;
    const refused = (stats?.rateLimited.requests ?? 0) + (stats?.rateLimited.tokens ?? 0);
    const calls = (stats?.admitted ?? 0) + refused;
    expect(calls).toBeGreaterThan(report.counts.accepted);
    expect(refused / calls).toBeLessThanOrEqual(0.01);
    expect(stats?.maxTpmInAnyWindowByModel['gpt-4o-mini']).toBeLessThanOrEqual(40_000);
    // The limit really bound: each extract call is charged at least its max_tokens (1,024), and together they were
    // more than one minute's allowance
    expect((stats?.admittedByModel['gpt-4o-mini'] ?? 0) * 1024).toBeGreaterThan(40_000);
    expect(report.supervisorActions.filter((entry) => entry.kind === 'concurrency down')).toEqual([]);
    expect(report.counts.byState.PUBLISHED).toBe(report.counts.accepted);
  }, 300_000);

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
});
