import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type BreakerListener,
  type BreakerOptions,
  type BreakerPermit,
  CircuitBreaker,
} from '#shared/circuit-breaker.ts';
import { BreakerOpenError } from '#shared/errors.ts';
import { seededRandom } from '#sim/hash.ts';
import { type StateTable, startStateTable } from '../../support/state-table.ts';

const options: BreakerOptions = {
  failureThreshold: 3,
  windowMs: 60_000,
  minCalls: 20,
  failureRate: 0.5,
  cooldownMs: 30_000,
  probeLeaseMs: 10_000,
  cacheMs: 0,
};

/** A clock the test moves by hand. */
class FakeClock {
  at = Date.parse('2026-11-01T12:00:00Z');
  readonly now = () => this.at;
  advance(ms: number) {
    this.at += ms;
  }
}

/** The error an acquire threw, or a failure of the test when it let the caller through. */
async function refusal(promise: Promise<BreakerPermit>): Promise<BreakerOpenError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof BreakerOpenError) return error;
    throw error;
  }
  throw new Error('the breaker let the caller through');
}

describe('Class: CircuitBreaker', () => {
  let table: StateTable;
  let dependencyCount = 0;

  beforeAll(async () => {
    table = await startStateTable();
  });

  afterAll(async () => {
    await table?.stop();
  });

  /** A breaker over a dependency no other test uses; more instances over the same one with `another`. */
  function setup(overrides: Partial<BreakerOptions> = {}, listener?: BreakerListener) {
    dependencyCount += 1;
    const dependency = `model-${dependencyCount}`;
    const clock = new FakeClock();
    const make = () =>
      new CircuitBreaker(table.dynamo, table.tableName, dependency, { ...options, ...overrides }, clock.now, listener);
    return { clock, breaker: make(), another: make(), make };
  }

  /** Fails `count` calls in a row through `breaker`. */
  async function fail(breaker: CircuitBreaker, count: number, owner = 'caller') {
    for (let i = 0; i < count; i += 1) {
      await breaker.onFailure(await breaker.acquire(`${owner}-${i}`));
    }
  }

  /** Counts the requests the shared client sends while `act` runs. */
  async function countRequests(act: () => Promise<void>): Promise<string[]> {
    const sent: string[] = [];
    const name = `count-requests-${dependencyCount}`;
    table.dynamo.middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(context.commandName ?? 'unknown');
        return next(args);
      },
      { step: 'initialize', name },
    );
    try {
      await act();
    } finally {
      table.dynamo.middlewareStack.remove(name);
    }
    return sent;
  }

  describe('Method: acquire', () => {
    it('lets callers through while closed', async () => {
      // Prepare
      const { breaker } = setup();

      // Act
      const permit = await breaker.acquire('a');

      // Assess
      expect(permit.kind).toBe('closed');
      expect((await breaker.state()).state).toBe('closed');
    });

    it('refuses callers while open, saying how much of the cooldown is left', async () => {
      // Prepare
      const { breaker, clock } = setup();
      await fail(breaker, options.failureThreshold);
      clock.advance(12_000);

      // Act
      const error = await refusal(breaker.acquire('late'));

      // Assess
      expect(error.dependency).toBe(breaker.dependency);
      expect(error.kind).toBe('deferred');
      expect(error.retryAfterMs).toBe(options.cooldownMs - 12_000);
    });

    it('gives the probe permit to exactly one of many concurrent callers once the cooldown is over', async () => {
      // Prepare
      const { breaker, clock, make } = setup();
      await fail(breaker, options.failureThreshold);
      clock.advance(options.cooldownMs);
      // Half the callers share one instance; the others each run on an instance of their own.
      const instances = Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? breaker : make()));

      // Act
      const results = await Promise.allSettled(instances.map((instance, i) => instance.acquire(`caller-${i}`)));

      // Assess
      const probes = results.filter((result) => result.status === 'fulfilled');
      const refused = results.filter((result) => result.status === 'rejected');
      expect(probes).toHaveLength(1);
      expect(probes[0]?.value.kind).toBe('probe');
      expect(refused).toHaveLength(19);
      for (const result of refused) {
        expect(result.reason).toBeInstanceOf(BreakerOpenError);
        expect((result.reason as BreakerOpenError).retryAfterMs).toBeGreaterThan(0);
      }
      expect((await breaker.state()).state).toBe('half-open');
    });

    it('hands the probe to another caller when the prober never reports back (it crashed)', async () => {
      // Prepare
      const { breaker, another, clock } = setup();
      await fail(breaker, options.failureThreshold);
      clock.advance(options.cooldownMs);
      await breaker.acquire('crashed-prober');

      // Act
      clock.advance(options.probeLeaseMs - 1);
      const duringLease = await refusal(another.acquire('too-early'));
      clock.advance(1);
      const replacement = await another.acquire('replacement');

      // Assess
      expect(duringLease.retryAfterMs).toBeGreaterThan(0);
      expect(replacement).toEqual({ kind: 'probe', owner: 'replacement' });
    });

    it('does not let a crashed prober that comes back late decide for the one that replaced it', async () => {
      // Prepare
      const { breaker, another, clock } = setup();
      await fail(breaker, options.failureThreshold);
      clock.advance(options.cooldownMs);
      const late = await breaker.acquire('slow-prober');
      clock.advance(options.probeLeaseMs);
      await another.acquire('replacement');

      // Act
      await breaker.onSuccess(late);

      // Assess
      const record = await another.state();
      expect(record.state).toBe('half-open');
      expect(record.probeOwner).toBe('replacement');
    });
  });

  describe('Method: onFailure', () => {
    it('opens after failureThreshold consecutive failures, not before', async () => {
      // Prepare
      const changes: Parameters<BreakerListener>[0][] = [];
      const { breaker } = setup({}, (change) => changes.push(change));

      // Act
      await fail(breaker, options.failureThreshold - 1);
      const beforeThreshold = await breaker.acquire('still-closed');
      await breaker.onFailure(beforeThreshold);

      // Assess
      expect(beforeThreshold.kind).toBe('closed');
      await refusal(breaker.acquire('after-threshold'));
      const record = await breaker.state();
      expect(record.state).toBe('open');
      expect(record.opens).toBe(1);
      expect(changes).toEqual([{ dependency: breaker.dependency, from: 'closed', to: 'open' }]);
    });

    it('does not let failures older than the window accumulate', async () => {
      // Prepare
      const { breaker, clock } = setup();
      await fail(breaker, options.failureThreshold - 1);

      // Act
      clock.advance(options.windowMs + 1);
      await fail(breaker, options.failureThreshold - 1);

      // Assess
      expect((await breaker.acquire('still-closed')).kind).toBe('closed');
      expect((await breaker.state()).failures).toBe(options.failureThreshold - 1);
    });

    it('counts failures from two instances of the same dependency together', async () => {
      // Prepare
      const { breaker, another } = setup();

      // Act
      await fail(breaker, 1, 'first');
      await fail(another, 1, 'second');
      await fail(breaker, 1, 'third');

      // Assess
      await refusal(another.acquire('after-threshold'));
      await refusal(breaker.acquire('after-threshold'));
    });

    it('counts every one of many concurrent failures', async () => {
      // Prepare
      const { breaker } = setup({ failureThreshold: 10 });
      const permits = await Promise.all(Array.from({ length: 10 }, (_, i) => breaker.acquire(`caller-${i}`)));

      // Act
      await Promise.all(permits.map((permit) => breaker.onFailure(permit)));

      // Assess
      const record = await breaker.state();
      expect(record.state).toBe('open');
      expect(record.opens).toBe(1);
    });

    it('opens again for a whole new cooldown when the probe fails', async () => {
      // Prepare
      const { breaker, another, clock } = setup();
      await fail(breaker, options.failureThreshold);
      clock.advance(options.cooldownMs);
      const probe = await breaker.acquire('prober');
      clock.advance(2_000);

      // Act
      await breaker.onFailure(probe);

      // Assess
      const error = await refusal(another.acquire('next'));
      expect(error.retryAfterMs).toBe(options.cooldownMs);
      clock.advance(options.cooldownMs - 1);
      await refusal(another.acquire('still-too-early'));
      clock.advance(1);
      expect((await another.acquire('next-prober')).kind).toBe('probe');
      expect((await breaker.state()).opens).toBe(2);
    });
  });

  describe('Failure rate', () => {
    /** Instances with the production cache, sharing one record, as the functions of a stage do. */
    function fleet(size: number, overrides: Partial<BreakerOptions> = {}) {
      const { make, clock, breaker } = setup({ cacheMs: 1000, ...overrides });
      return { clock, breaker, instances: Array.from({ length: size }, make) };
    }

    /** One call through `instance` that fails or succeeds; false when the breaker refused it. */
    async function call(instance: CircuitBreaker, owner: string, fails: boolean): Promise<boolean> {
      let permit: BreakerPermit;
      try {
        permit = await instance.acquire(owner);
      } catch (error) {
        if (error instanceof BreakerOpenError) return false;
        throw error;
      }
      if (fails) await instance.onFailure(permit);
      else await instance.onSuccess(permit);
      return true;
    }

    it('never opens on a steady 5 % of failures at 20 calls a second (5 minutes, seeded)', async () => {
      // Prepare: three instances, a call every 50 ms, each failing with probability 0.05
      const { clock, breaker, instances } = fleet(3);
      const random = seededRandom(20_261_101);
      let refused = 0;
      let failures = 0;

      // Act
      for (let i = 0; i < 6000; i += 1) {
        const fails = random() < 0.05;
        if (fails) failures += 1;
        const instance = instances[i % instances.length] ?? breaker;
        if (!(await call(instance, `caller-${i}`, fails))) refused += 1;
        clock.advance(50);
      }

      // Assess
      expect(failures).toBeGreaterThan(250);
      expect(refused).toBe(0);
      const record = await breaker.state();
      expect(record.state).toBe('closed');
      expect(record.opens).toBeUndefined();
    }, 300_000);

    it('does not open on failureThreshold failures in a row while the window holds minCalls calls', async () => {
      // Prepare: a window already holding more than minCalls calls, nearly all answered
      const { clock, breaker, instances } = fleet(2);
      for (let i = 0; i < options.minCalls * 2; i += 1) {
        await call(instances[i % 2] ?? breaker, `healthy-${i}`, i === 5);
        clock.advance(100);
      }

      // Act: failures in a row, as a steady low error rate now and then gives
      for (let i = 0; i < options.failureThreshold; i += 1) {
        await call(instances[i % 2] ?? breaker, `unlucky-${i}`, true);
        clock.advance(100);
      }

      // Assess
      expect((await breaker.state()).state).toBe('closed');
    });

    it('opens within minCalls failures when every call fails after healthy traffic', async () => {
      // Prepare: 30 s of calls, all answered, at 20 a second
      const { clock, breaker, instances } = fleet(3);
      for (let i = 0; i < 600; i += 1) {
        await call(instances[i % 3] ?? breaker, `healthy-${i}`, false);
        clock.advance(50);
      }

      // Act: the provider goes down
      let failed = 0;
      while (failed <= options.minCalls) {
        if (!(await call(instances[failed % 3] ?? breaker, `outage-${failed}`, true))) break;
        failed += 1;
        clock.advance(50);
      }

      // Assess
      expect((await breaker.state()).state).toBe('open');
      expect(failed).toBeLessThanOrEqual(options.minCalls);
    });

    it('opens on failureThreshold failures in a row at low traffic (fewer than minCalls calls in the window)', async () => {
      // Prepare: a call every 10 s, answered
      const { clock, breaker, instances } = fleet(2);
      for (let i = 0; i < 4; i += 1) {
        await call(instances[i % 2] ?? breaker, `quiet-${i}`, false);
        clock.advance(10_000);
      }

      // Act
      for (let i = 0; i < options.failureThreshold; i += 1) {
        await call(instances[i % 2] ?? breaker, `failing-${i}`, true);
        clock.advance(10_000);
      }

      // Assess
      expect((await breaker.state()).state).toBe('open');
    });

    it("forgets the outage's failures once a probe closes it, so the next failure does not open it again", async () => {
      // Prepare: opened by its failure rate, then closed by a probe within the same window
      const { clock, breaker, instances } = fleet(2);
      for (let i = 0; i < options.minCalls; i += 1) await call(instances[i % 2] ?? breaker, `ok-${i}`, false);
      for (let i = 0; (await breaker.state()).state === 'closed' && i < 100; i += 1) {
        await call(instances[i % 2] ?? breaker, `failing-${i}`, true);
      }
      clock.advance(options.cooldownMs);
      await breaker.onSuccess(await breaker.acquire('prober'));

      // Act
      clock.advance(1_000);
      await call(breaker, 'after-close', true);

      // Assess
      expect((await breaker.state()).state).toBe('closed');
    });

    it('adds the successes it counted to the record at most once per successFlushMs while failures are in the window', async () => {
      // Prepare: one failure in the window
      const { clock, breaker } = fleet(1, { successFlushMs: 5000 });
      await call(breaker, 'failed', true);

      // Act: 10 s of answered calls, 20 a second
      const sent = await countRequests(async () => {
        for (let i = 0; i < 200; i += 1) {
          await call(breaker, `healthy-${i}`, false);
          clock.advance(50);
        }
      });

      // Assess: the reset of the failures in a row, then a flush every 5 s at most
      expect(sent.filter((command) => command === 'UpdateItemCommand').length).toBeLessThanOrEqual(1 + 2);
    });
  });

  describe('Method: onSuccess', () => {
    it('resets the count of consecutive failures', async () => {
      // Prepare
      const { breaker } = setup();
      await fail(breaker, options.failureThreshold - 1);

      // Act
      await breaker.onSuccess(await breaker.acquire('healthy'));
      await fail(breaker, options.failureThreshold - 1);

      // Assess
      expect((await breaker.acquire('still-closed')).kind).toBe('closed');
    });

    it("closes the breaker on the prober's success, after which every caller passes", async () => {
      // Prepare
      const changes: Parameters<BreakerListener>[0][] = [];
      const { breaker, another, clock } = setup({}, (change) => changes.push(change));
      await fail(breaker, options.failureThreshold);
      clock.advance(options.cooldownMs);
      const probe = await breaker.acquire('prober');

      // Act
      await breaker.onSuccess(probe);

      // Assess
      const permits = await Promise.all(
        Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? breaker : another).acquire(`after-${i}`)),
      );
      expect(permits.every((permit) => permit.kind === 'closed')).toBe(true);
      expect((await breaker.state()).failures).toBe(0);
      expect(changes.map((change) => change.to)).toEqual(['open', 'half-open', 'closed']);
    });

    it('writes nothing on the healthy path (closed, no failures)', async () => {
      // Prepare
      const { breaker } = setup();

      // Act
      const sent = await countRequests(async () => {
        for (let i = 0; i < 5; i += 1) await breaker.onSuccess(await breaker.acquire(`healthy-${i}`));
      });

      // Assess
      expect(sent).toContain('GetItemCommand');
      expect(sent.filter((command) => command !== 'GetItemCommand')).toEqual([]);
    });

    it('reads the record at most once per cacheMs on the healthy path', async () => {
      // Prepare
      const { breaker, clock } = setup({ cacheMs: 1000 });

      // Act
      const sent = await countRequests(async () => {
        for (let i = 0; i < 10; i += 1) {
          await breaker.onSuccess(await breaker.acquire(`healthy-${i}`));
          clock.advance(99);
        }
      });
      const afterCache = await countRequests(async () => {
        clock.advance(1000);
        await breaker.onSuccess(await breaker.acquire('after-cache'));
      });

      // Assess
      expect(sent).toEqual(['GetItemCommand']);
      expect(afterCache).toEqual(['GetItemCommand']);
    });
  });

  describe('Method: release', () => {
    it('lets the next caller probe at once when the prober does not call after all', async () => {
      // Prepare
      const { breaker, another, clock } = setup();
      await fail(breaker, options.failureThreshold);
      clock.advance(options.cooldownMs);
      const probe = await breaker.acquire('prober');

      // Act
      await breaker.release(probe);

      // Assess
      expect(await another.acquire('next')).toEqual({ kind: 'probe', owner: 'next' });
    });

    it('changes nothing for a caller that held a closed permit', async () => {
      // Prepare
      const { breaker } = setup();
      await fail(breaker, 1);

      // Act
      await breaker.release(await breaker.acquire('caller'));

      // Assess
      const record = await breaker.state();
      expect(record).toMatchObject({ state: 'closed', failures: 1 });
    });
  });

  describe('Shared state', () => {
    it("lets two instances over the same record see each other's state", async () => {
      // Prepare
      const { breaker, another, clock } = setup();

      // Act & Assess: one instance opens it, the other is refused
      await fail(breaker, options.failureThreshold);
      await refusal(another.acquire('other-instance'));

      // Act & Assess: the other instance probes and closes it, the first lets callers through again
      clock.advance(options.cooldownMs);
      await another.onSuccess(await another.acquire('other-prober'));
      expect((await breaker.acquire('first-instance')).kind).toBe('closed');
    });
  });

  it('keeps when the outage began across failed probes, and forgets it when the breaker closes', async () => {
    // Arrange
    const { clock, breaker } = setup();
    await fail(breaker, 3);
    const began = clock.at;

    // Act: two failed probes, a cooldown apart, then a successful one
    for (let probe = 0; probe < 2; probe += 1) {
      clock.advance(options.cooldownMs);
      await breaker.onFailure(await breaker.acquire(`prober-${probe}`));
    }
    const duringOutage = await breaker.state();
    clock.advance(options.cooldownMs);
    await breaker.onSuccess(await breaker.acquire('prober-last'));
    const afterOutage = await breaker.state();

    // Assess: openedAt moves with every reopening; openSince stays at the outage's start
    expect(duringOutage).toMatchObject({ state: 'open', openSince: began, openedAt: began + 2 * options.cooldownMs });
    expect(afterOutage.state).toBe('closed');
    expect(afterOutage.openSince).toBeUndefined();
  });
});
