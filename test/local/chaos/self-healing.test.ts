import { describe, expect, it } from 'vitest';
import type { LookReport, StageLook } from '#functions/supervisor/supervisor.ts';
import { parseScenario } from '#local/chaos/scenario.ts';
import { type SelfHealingInput, selfHealingChecks } from '#local/chaos/self-healing.ts';
import type { TimelineReport } from '#local/chaos/timeline.ts';
import type { CallRecord } from '#sim/server.ts';

/**
 * The self-healing checks on hand-made runs: a provider outage the supervisor handles (or not), and a limit drop
 * the pipeline follows (or not). Each check is shown to fail when what it guards is broken.
 */

const START = Date.parse('2026-11-21T10:00:00Z');
const S = 1000;

const outageScenario = parseScenario({
  name: 'unit-outage',
  seed: 1,
  items: { count: 2 },
  config: {
    stages: { extract: { timeoutSeconds: 6 }, draft: { timeoutSeconds: 6 } },
    llm: { timeoutSeconds: 1 },
    breaker: { cooldownSeconds: 5 },
    supervisor: { intervalSeconds: 2, pauseAfterSeconds: 15 },
  },
  providerOutages: [
    { atSeconds: 10, forSeconds: 30, mode: 'hang' },
    { atSeconds: 40, forSeconds: 30, mode: 'error' },
  ],
  expect: { autoPause: true },
});

/** Two touching windows whose timers fired 140 ms apart, as on a busy machine. */
const timeline: TimelineReport = {
  memory: { windows: [], lookupsDuringOutage: 0, writesDuringOutage: 0, lookups: 0, writes: 0 },
  providerOutages: [
    { startMs: 10 * S, endMs: 40 * S, mode: 'hang' },
    { startMs: 40 * S + 140, endMs: 70 * S, mode: 'error' },
  ],
  limitChanges: [],
};

function look(atSeconds: number, actions: Partial<Record<'extract' | 'draft', string>>): LookReport {
  const stage = (name: 'extract' | 'draft'): StageLook => ({
    stage: name,
    state: 'Enabled',
    paused: false,
    pausedBy: null,
    concurrency: 4,
    actions: actions[name] === undefined ? [] : [actions[name]],
  });
  return {
    at: new Date(START + atSeconds * S).toISOString(),
    stages: [stage('extract'), stage('draft')],
    reenriched: 0,
    errors: [],
  };
}

function call(atSeconds: number, model: string, extra: Partial<CallRecord> = {}): CallRecord {
  const at = START + atSeconds * S;
  return {
    model,
    receivedAt: at,
    answeredAt: at + 50,
    status: 200,
    promptTokens: 10,
    completionTokens: 1,
    chargedTokens: 11,
    ...extra,
  };
}

/** A run the supervisor handled: both stages called during the outage, paused 17 s in, probed, resumed after. */
function handled(): SelfHealingInput {
  return {
    scenario: outageScenario,
    startedAt: START,
    timeline,
    calls: [
      call(11, 'gpt-4o-mini', { status: 499 }),
      call(11, 'gpt-4.1-mini', { status: 499 }),
      call(40, 'gpt-4o-mini', { status: 503, caller: 'supervisor' }),
      call(50, 'gpt-4.1-mini', { status: 503, caller: 'supervisor' }),
      call(72, 'gpt-4o-mini', { caller: 'supervisor' }),
    ],
    looks: [
      look(27, { extract: 'paused: gpt-4o-mini unavailable', draft: 'paused: gpt-4.1-mini unavailable' }),
      look(72, { extract: 'resumed: probe answered', draft: 'resumed: probe answered' }),
    ],
  };
}

const byName = (input: SelfHealingInput) =>
  Object.fromEntries(selfHealingChecks(input).map((check) => [check.name, check]));

describe('Function: selfHealingChecks', () => {
  it('passes a run the supervisor handled, measuring from the start of touching outage windows', () => {
    // Act
    const checks = byName(handled());

    // Assess: paused 17 s after the outage began at 10 s (not 27 s after the second window's start)
    expect(checks.pausedDuringOutage).toMatchObject({ ok: true, observed: 17 });
    expect(checks.onlyProbesWhilePaused).toMatchObject({ ok: true, observed: 0 });
    expect(checks.resumedAfterOutage).toMatchObject({ ok: true, observed: 2 });
  });

  it('fails a pause later than the threshold, a stage never paused, and a stage never resumed', () => {
    // Arrange
    const late = {
      ...handled(),
      looks: [look(40, { extract: 'paused: x', draft: 'paused: y' }), ...handled().looks.slice(1)],
    };
    const never = { ...handled(), looks: [look(27, { extract: 'paused: x' }), ...handled().looks.slice(1)] };
    const stuck = { ...handled(), looks: handled().looks.slice(0, 1) };

    // Act & Assess
    expect(byName(late).pausedDuringOutage?.ok).toBe(false);
    expect(byName(never).pausedDuringOutage).toMatchObject({
      ok: false,
      detail: expect.stringContaining('draft never paused'),
    });
    expect(byName(stuck).resumedAfterOutage).toMatchObject({
      ok: false,
      detail: expect.stringContaining('never resumed'),
    });
  });

  it("fails a stage's call reaching the provider while every stage was paused", () => {
    // Arrange: a stage's call 10 s after the pauses, past the 6 s the invocations in flight had
    const input = handled();
    const leaked = { ...input, calls: [...input.calls, call(37, 'gpt-4o-mini', { status: 499 })] };

    // Act & Assess
    expect(byName(leaked).onlyProbesWhilePaused).toMatchObject({ ok: false, observed: 1 });
  });

  it('measures 429s and throughput after a limit drop, from a minute after it', () => {
    // Arrange: 120 → 60 rpm at 10 s; then one call a second (60 rpm) for three minutes, one of them a 429
    const scenario = parseScenario({
      name: 'unit-drop',
      seed: 1,
      items: { count: 2 },
      simulator: { faults: { limits: { perModel: { 'gpt-4o-mini': { rpm: 120 } } } } },
      limitChanges: [{ atSeconds: 10, limits: { perModel: { 'gpt-4o-mini': { rpm: 60 } } } }],
      expect: { limitDrop: { max429Percent: 1, minThroughputPercent: 90 } },
    });
    const calls = Array.from({ length: 180 }, (_, index) =>
      call(10 + index, 'gpt-4o-mini', index === 5 ? { status: 429 } : {}),
    );
    const input: SelfHealingInput = {
      scenario,
      startedAt: START,
      timeline: {
        ...timeline,
        providerOutages: [],
        limitChanges: [{ atMs: 10 * S, limits: scenario.limitChanges[0]?.limits ?? {} }],
      },
      calls,
      looks: [],
    };
    const slow = { ...input, calls: calls.filter((_, index) => index % 2 === 0) };
    const throttled = { ...input, calls: calls.map((c, index) => (index % 20 === 0 ? { ...c, status: 429 } : c)) };

    // Act
    const checks = byName(input);

    // Assess
    expect(checks['rateLimitedAfterDrop gpt-4o-mini']).toMatchObject({ ok: true, observed: 0.56 });
    expect(checks['throughputAfterDrop gpt-4o-mini']).toMatchObject({ ok: true, observed: 100 });
    expect(byName(slow)['throughputAfterDrop gpt-4o-mini']?.ok).toBe(false);
    expect(byName(throttled)['rateLimitedAfterDrop gpt-4o-mini']?.ok).toBe(false);
  });
});
