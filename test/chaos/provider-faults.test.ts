import { describe, expect, it } from 'vitest';
import { failedChecks, runScenario } from './run-scenario.ts';

describe('Chaos: provider faults', () => {
  it('finishes every item through 5xx errors, and dead-letters a refused request at once without retrying it', async () => {
    // Act
    const report = await runScenario('provider-errors');

    // Assess
    expect(failedChecks(report)).toEqual([]);
    expect(report.simulator?.errorsServed['500']).toBeGreaterThan(0);
    expect(report.simulator?.errorsServed['503']).toBeGreaterThan(0);
    const refused = report.simulator?.errorsServed['400'] ?? 0;
    expect(refused).toBeGreaterThan(0);
    const { PUBLISHED: published = 0, DEAD_LETTER: deadLettered = 0 } = report.counts.byState;
    expect(published + deadLettered).toBe(report.counts.accepted);
    expect(report.counts.byState.PUBLISHED).toBeGreaterThan(report.counts.accepted / 2);
  }, 120_000);

  it('dead-letters no valid item through bursts of 5xx with 3 attempts: every wait outlasts the burst', async () => {
    // Act
    const report = await runScenario('error-bursts');

    // Assess
    expect(failedChecks(report)).toEqual([]);
    expect(report.simulator?.errorsServed['503']).toBeGreaterThan(0);
    expect(report.checks.find((check) => check.name === 'transientDeadLetters')?.detail).toContain('its 3 attempts');
    expect(report.counts.byState.PUBLISHED).toBe(report.counts.accepted);
  }, 200_000);

  it('gives up on calls that never answer after the LLM timeout and retries them', async () => {
    // Act
    const report = await runScenario('hangs');

    // Assess
    expect(failedChecks(report)).toEqual([]);
    expect(report.simulator?.hung).toBeGreaterThan(0);
    expect(report.simulator?.requestsAborted).toBeGreaterThan(0);
    expect(report.counts.byState.PUBLISHED).toBe(report.counts.accepted);
  }, 120_000);

  it('keeps malformed answers in the ledger as paid and retries the step', async () => {
    // Act
    const report = await runScenario('malformed');

    // Assess
    expect(failedChecks(report)).toEqual([]);
    expect(report.simulator?.malformed).toBeGreaterThan(0);
    expect(report.counts.ledger.invalidOutputs).toBeGreaterThan(0);
    expect(report.counts.byState.PUBLISHED).toBe(report.counts.accepted);
  }, 120_000);
});
