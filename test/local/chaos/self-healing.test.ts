import { describe, expect, it } from 'vitest';
import type { SupervisorAction } from '#functions/supervisor/actions.ts';
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

type StageName = 'extract' | 'draft';

/** What a look saw and did for a stage: its breakers open since (seconds), an action, or the stage paused. */
interface StageAt {
  since?: number;
  action?: SupervisorAction;
  paused?: boolean;
}

function look(atSeconds: number, stages: Partial<Record<StageName, StageAt>>): LookReport {
  const stage = (name: StageName): StageLook => {
    const seen = stages[name] ?? {};
    return {
      stage: name,
      state: seen.paused ? 'Disabled' : 'Enabled',
      paused: seen.paused ?? false,
      pausedBy: seen.paused ? 'auto' : null,
      concurrency: 4,
      actions: seen.action === undefined ? [] : [seen.action],
      ...(seen.since !== undefined && { unavailableSince: new Date(START + seen.since * S).toISOString() }),
    };
  };
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

const MODELS: Record<StageName, string> = { extract: 'gpt-4o-mini', draft: 'gpt-4.1-mini' };

/**
 * A run as the supervisor plays it: a look every `every` seconds from 1 s; both breakers open at 12 s (the outage
 * began at 10 s); each stage paused at its look in `pauseAt`, then probed every 6 s while the provider is down
 * (503s), and resumed at its look in `resumeAt` by a probe answered in that look.
 */
function played(
  options: {
    lookTimes?: readonly number[];
    pauseAt?: Partial<Record<StageName, number>>;
    resumeAt?: Partial<Record<StageName, number>>;
    probeAt?: Partial<Record<StageName, number>>;
  } = {},
): SelfHealingInput {
  const lookTimes = options.lookTimes ?? Array.from({ length: 45 }, (_, index) => 1 + 2 * index);
  const pauseAt = { extract: 27, draft: 27, ...options.pauseAt };
  const resumeAt = { extract: 75, draft: 75, ...options.resumeAt };
  const probeAt = { extract: 74.5, draft: 74.5, ...options.probeAt };
  const looks = lookTimes.map((at) => {
    const stages: Partial<Record<StageName, StageAt>> = {};
    for (const stage of ['extract', 'draft'] as const) {
      const pause = pauseAt[stage];
      const resume = resumeAt[stage];
      if (at === pause)
        stages[stage] = { since: 12, action: { kind: 'paused', detail: `${MODELS[stage]} unavailable` } };
      else if (at === resume) stages[stage] = { action: { kind: 'resumed', detail: 'probe answered' } };
      else if (pause !== undefined && at > pause && (resume === undefined || at < resume)) {
        stages[stage] = { paused: true };
      } else if (at >= 12 && (pause === undefined || at < pause)) stages[stage] = { since: 12 };
    }
    return look(at, stages);
  });
  const calls: CallRecord[] = [];
  for (const stage of ['extract', 'draft'] as const) {
    calls.push(call(11, MODELS[stage], { status: 499 }));
    // While paused and the provider is down: a failed probe a look after each cooldown.
    for (let at = 32.5; at < 70; at += 6) calls.push(call(at, MODELS[stage], { status: 503, caller: 'supervisor' }));
    const probe = probeAt[stage];
    if (probe !== undefined) calls.push(call(probe, MODELS[stage], { caller: 'supervisor' }));
  }
  return {
    scenario: outageScenario,
    startedAt: START,
    timeline,
    calls: calls.sort((a, b) => a.receivedAt - b.receivedAt),
    looks,
  };
}

const byName = (input: SelfHealingInput) =>
  Object.fromEntries(selfHealingChecks(input).map((check) => [check.name, check]));

describe('Function: selfHealingChecks', () => {
  it('passes a run the supervisor handled, measuring from the start of touching outage windows', () => {
    // Act
    const checks = byName(played());

    // Assess: paused at the first look 15 s after the breakers opened, 17 s after the outage began at 10 s (not
    // after the second window's start); resumed at the look whose probe was answered
    expect(checks.pausedDuringOutage).toMatchObject({
      ok: true,
      observed: 0,
      limit: 1,
      detail: expect.stringContaining('17.0 s after the outage began'),
    });
    expect(checks.onlyProbesWhilePaused).toMatchObject({ ok: true, observed: 0 });
    expect(checks.resumedAfterOutage).toMatchObject({ ok: true, observed: 0, limit: 1 });
  });

  it('passes a pause and a resume one look after they were due', () => {
    // Act
    const checks = byName(played({ pauseAt: { extract: 29 }, resumeAt: { draft: 77 }, probeAt: { draft: 76.5 } }));

    // Assess
    expect(checks.pausedDuringOutage).toMatchObject({ ok: true, observed: 1 });
    expect(checks.resumedAfterOutage).toMatchObject({ ok: true, observed: 0 });
  });

  it('passes a run whose looks came late and far apart, as on a busy machine, judging each look on its own', () => {
    // Prepare: the supervisor's timer fired late: looks 4.5 s apart, so the first look 15 s after the breakers
    // opened came at 28.5 s, the pause at the look after (33 s, 23 s into the outage), the resume late too
    const lookTimes = Array.from({ length: 20 }, (_, index) => 1.5 + 4.5 * index);
    const input = played({ lookTimes, pauseAt: { extract: 33, draft: 28.5 }, resumeAt: { extract: 78, draft: 78 } });
    const busy = {
      ...input,
      calls: input.calls.map((c) =>
        c.status === 200 ? { ...c, receivedAt: c.receivedAt + 3000, answeredAt: c.answeredAt + 3000 } : c,
      ),
    };

    // Act
    const checks = byName(busy);

    // Assess
    expect(checks.pausedDuringOutage).toMatchObject({
      ok: true,
      observed: 1,
      detail: expect.stringContaining('23.0 s after the outage began'),
    });
    expect(checks.resumedAfterOutage).toMatchObject({ ok: true });
  });

  it('fails a pause two looks late, a pause before its breakers were open long enough, and a stage never paused', () => {
    // Prepare
    const late = played({ pauseAt: { draft: 31 } });
    const early = played({ pauseAt: { extract: 25 } });
    const never = played({ pauseAt: { draft: undefined }, resumeAt: { draft: undefined } });

    // Act & Assess
    expect(byName(late).pausedDuringOutage).toMatchObject({
      ok: false,
      detail: expect.stringContaining('draft paused 2 looks after it was due'),
    });
    expect(byName(early).pausedDuringOutage).toMatchObject({
      ok: false,
      detail: expect.stringContaining('extract paused before its breakers were open long enough'),
    });
    expect(byName(never).pausedDuringOutage).toMatchObject({
      ok: false,
      detail: expect.stringContaining('draft never paused'),
    });
  });

  it('fails a probe skipped at the looks after the cooldown, a resume two looks after its probe, and no resume', () => {
    // Prepare: the cooldown after the failed probe of the look at 69 s ends at 74 s: the looks at 75 or 77 probe
    const skipped = played({ probeAt: { extract: 78.5 }, resumeAt: { extract: 79 } });
    const slow = played({ resumeAt: { draft: 79 } });
    const stuck = played({ resumeAt: { extract: undefined } });

    // Act & Assess
    expect(byName(skipped).resumedAfterOutage).toMatchObject({
      ok: false,
      detail: expect.stringContaining('probed later than the look after its cooldown ended'),
    });
    expect(byName(slow).resumedAfterOutage).toMatchObject({
      ok: false,
      detail: expect.stringContaining('draft resumed 2 looks after its probe was answered'),
    });
    expect(byName(stuck).resumedAfterOutage).toMatchObject({
      ok: false,
      detail: expect.stringContaining('extract never resumed'),
    });
  });

  it("fails a stage's call reaching the provider while every stage was paused", () => {
    // Prepare: a stage's call 10 s after the pauses, past the 6 s the invocations in flight had
    const input = played();
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
