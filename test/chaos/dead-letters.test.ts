import { describe, expect, it } from 'vitest';
import { failedChecks, runScenario } from './run-scenario.ts';

describe('Chaos: dead letters stay dead until someone redrives them', () => {
  it('leaves every dead-lettered item DEAD_LETTER, with its dead letter in a DLQ and no call, when its messages come again', async () => {
    // Act
    const report = await runScenario('dead-letters-final');

    // Assess: every invariant held, the late duplicates among them
    expect(failedChecks(report)).toEqual([]);
    expect(report.checks.find((check) => check.name === 'deadLettersStayDead')?.ok).toBe(true);
    // Assess: dead letters at both stages, each sent twice (a crash between the DLQ send and the state write)
    expect(report.counts.deadLetters['extract LlmCallError']).toBeGreaterThan(0);
    expect(report.counts.deadLetters['draft LlmCallError']).toBeGreaterThan(0);
    expect(report.crashes.byPoint['after-dead-letter-send']).toBeGreaterThan(0);
    // Assess: each late duplicate was acknowledged as stale, and counted
    expect(report.counts.lateDuplicates).toBeGreaterThan(0);
    expect(report.metrics.items.staleDeliveries).toBeGreaterThanOrEqual(report.counts.lateDuplicates);
  }, 150_000);
});
