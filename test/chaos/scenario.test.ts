import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { stageConfigOf } from '#lib/config.ts';
import { ChaosCrashes } from '#local/chaos/crashes.ts';
import { chaosMessages } from '#local/chaos/items.ts';
import { loadScenario, parseScenario, ScenarioError } from '#local/chaos/scenario.ts';
import { InjectedCrash } from '#shared/errors.ts';
import { intakeItemSchema } from '#shared/schemas.ts';

const SCENARIOS = new URL('../../chaos/scenarios/', import.meta.url);

/** The smallest valid scenario, to vary one field at a time. */
const minimal = { name: 'unit', seed: 1, items: { count: 3 } };

function fieldOfError(raw: unknown): string {
  try {
    parseScenario(raw);
  } catch (error) {
    if (error instanceof ScenarioError) return error.field;
    throw error;
  }
  throw new Error('the scenario was accepted');
}

describe('Function: parseScenario', () => {
  it('accepts every bundled scenario file', async () => {
    // Prepare
    const files = (await readdir(SCENARIOS)).filter((file) => file.endsWith('.json'));

    // Act
    const scenarios = await Promise.all(files.map((file) => loadScenario(new URL(file, SCENARIOS).pathname)));

    // Assess
    expect(files.length).toBeGreaterThanOrEqual(10);
    for (const scenario of scenarios) {
      expect(stageConfigOf(scenario.pipeline, 'extract').timeoutSeconds).toBeGreaterThanOrEqual(3);
      expect(scenario.drainTimeoutSeconds).toBeGreaterThan(0);
    }
  });

  it('fills in the defaults of a minimal scenario', () => {
    // Act
    const scenario = parseScenario(minimal);

    // Assess
    expect(scenario.items).toEqual({ count: 3, poison: 0, duplicates: 0 });
    expect(scenario.crashes).toEqual({ maxPerItem: 1 });
    expect(scenario.expect).toEqual({
      budgetExhausted: false,
      transientDeadLetters: 0,
      autoPause: false,
      reenriched: false,
    });
    expect(scenario.pipeline.maxAttempts).toBe(3);
    expect(scenario.simulator.faults).toEqual({});
  });

  it.each([
    ['an unknown crash point', { ...minimal, crashes: { 'after-sned': 0.1 } }, 'crashes.after-sned'],
    ['a crash probability above 1', { ...minimal, crashes: { delete: 2 } }, 'crashes.delete'],
    ['a missing item count', { ...minimal, items: {} }, 'items.count'],
    [
      'a function timeout the config rejects',
      { ...minimal, config: { stages: { extract: { timeoutSeconds: 1 } } } },
      'config.stages.extract.timeoutSeconds',
    ],
    ['an unknown config key', { ...minimal, config: { maxAtempts: 3 } }, 'config'],
    [
      'an error status the simulator rejects',
      { ...minimal, simulator: { faults: { errorRates: { '700': 0.1 } } } },
      'simulator.faults.errorRates.700',
    ],
    [
      'a bad latency range',
      { ...minimal, simulator: { latencyMs: { minMs: 9, maxMs: 1 } } },
      'simulator.latencyMs.maxMs',
    ],
    [
      'a limit change below 1',
      { ...minimal, limitChanges: [{ atSeconds: 1, limits: { rpm: 0 } }] },
      'limitChanges[0].limits.rpm',
    ],
    [
      'overlapping provider outages',
      {
        ...minimal,
        providerOutages: [
          { atSeconds: 1, forSeconds: 10 },
          { atSeconds: 5, forSeconds: 10 },
        ],
      },
      'providerOutages[1].atSeconds',
    ],
    [
      'a provider address',
      { ...minimal, config: { llm: { baseUrl: 'https://api.openai.com/v1' } } },
      'config.llm.baseUrl',
    ],
  ])('names the field of %s', (_what, raw, field) => {
    // Act
    const named = fieldOfError(raw);

    // Assess
    expect(named).toBe(field);
  });
});

describe('Function: chaosMessages', () => {
  it('makes the same messages from the same seed, with unique valid items, poison and second copies', async () => {
    // Prepare
    const scenario = { name: 'unit', seed: 5, items: { count: 40, poison: 7, duplicates: 0.25 } };

    // Act
    const first = await chaosMessages(scenario);
    const again = await chaosMessages(scenario);
    const other = await chaosMessages({ ...scenario, seed: 6 });

    // Assess
    expect(again.bodies).toEqual(first.bodies);
    expect(other.bodies).not.toEqual(first.bodies);
    expect(first.bodies).toHaveLength(47 + first.duplicates);
    expect(first.duplicates).toBe(12);
    expect(first.poisonBodies.size).toBe(7);
    const valid = [...new Set(first.bodies)].filter((body) => !first.poisonBodies.has(body));
    const ids = valid.map((body) => intakeItemSchema.parse(JSON.parse(body)).id);
    expect(new Set(ids).size).toBe(40);
  });
});

describe('Class: ChaosCrashes', () => {
  const passAll = (crashes: ChaosCrashes, itemIds: readonly string[]) => {
    const crashed: string[] = [];
    for (const itemId of itemIds) {
      try {
        crashes.forStage('extract').crashPoint('after-send', itemId);
      } catch (error) {
        if (!(error instanceof InjectedCrash)) throw error;
        crashed.push(itemId);
      }
    }
    return crashed;
  };
  const items = Array.from({ length: 200 }, (_, n) => `item-${n}`);

  it('crashes the same items for the same seed, whatever the order they arrive in', () => {
    // Act
    const forward = passAll(new ChaosCrashes({ 'after-send': 0.3, maxPerItem: 1 }, 9), items);
    const backward = passAll(new ChaosCrashes({ 'after-send': 0.3, maxPerItem: 1 }, 9), [...items].reverse());

    // Assess
    expect(forward.length).toBeGreaterThan(30);
    expect(forward.length).toBeLessThan(90);
    expect([...backward].sort()).toEqual([...forward].sort());
  });

  it('crashes an item at most maxPerItem times and counts every crash by stage, point and item', () => {
    // Prepare
    const crashes = new ChaosCrashes({ 'after-send': 1, 'after-claim': 1, maxPerItem: 1 }, 9);

    // Act
    const first = passAll(crashes, ['a']);
    const second = passAll(crashes, ['a']);
    let claimCrashed = false;
    try {
      crashes.forStage('draft').crashPoint('after-claim', 'a');
    } catch {
      claimCrashed = true;
    }

    // Assess
    expect(first).toEqual(['a']);
    expect(second).toEqual([]);
    expect(claimCrashed).toBe(false);
    expect(crashes.report().byStage.extract?.['after-send']).toBe(1);
    expect(crashes.report().total).toBe(1);
    expect(crashes.forItem('a')['after-send']).toBe(1);
  });
});
