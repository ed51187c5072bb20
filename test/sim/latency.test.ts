import OpenAI from 'openai';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { manualClock } from '#sim/clock.ts';
import { delay, LOGNORMAL_CAP_FACTOR, latencySampler } from '#sim/latency.ts';
import { type LlmSimulator, startLlmSimulator } from '#sim/server.ts';

/** Lets real I/O (sockets) make progress while timers are fake; no wall-clock waiting. */
async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 10_000; turn++) {
    if (condition()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error('condition not reached');
}

function plainRequest(text: string) {
  return { model: 'gpt-4o-mini', messages: [{ role: 'user' as const, content: text }] };
}

describe('Function: latencySampler', () => {
  it('repeats the same sequence for the same seed and stays inside the range', () => {
    // Act
    const first = latencySampler({ minMs: 100, maxMs: 400 }, 42);
    const second = latencySampler({ minMs: 100, maxMs: 400 }, 42);
    const other = latencySampler({ minMs: 100, maxMs: 400 }, 43);
    const a = Array.from({ length: 50 }, first);
    const b = Array.from({ length: 50 }, second);
    const c = Array.from({ length: 50 }, other);

    // Assess
    expect(b).toEqual(a);
    expect(c).not.toEqual(a);
    for (const ms of a) {
      expect(ms).toBeGreaterThanOrEqual(100);
      expect(ms).toBeLessThanOrEqual(400);
    }
    expect(new Set(a).size).toBeGreaterThan(10);
  });

  it('refuses a range that ends before it starts', () => {
    expect(() => latencySampler({ minMs: 500, maxMs: 100 }, 1)).toThrow(RangeError);
  });
});

describe('Function: delay', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('stops waiting and clears its timer when the signal aborts', async () => {
    // Prepare
    vi.useFakeTimers();
    const controller = new AbortController();
    const waiting = delay(10_000, controller.signal);

    // Act
    controller.abort(new Error('gone'));

    // Assess
    await expect(waiting).rejects.toThrow('gone');
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('Simulated latency over HTTP', () => {
  let sim: LlmSimulator | undefined;

  afterEach(async () => {
    vi.useRealTimers();
    await sim?.stop();
    sim = undefined;
  });

  it('holds each answer back by the configured latency', async () => {
    // Prepare
    sim = await startLlmSimulator({ latencyMs: 1000 });
    const running = sim;
    const client = new OpenAI({ apiKey: 'test', baseURL: running.url, maxRetries: 0 });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    let answered = false;

    // Act
    const pending = client.chat.completions
      .create(plainRequest('Hello'))
      .withResponse()
      .finally(() => {
        answered = true;
      });
    await until(() => running.stats().inFlight === 1);
    await vi.advanceTimersByTimeAsync(999);
    const earlyAnswer = answered;
    await vi.advanceTimersByTimeAsync(1);
    const { response } = await pending;

    // Assess
    expect(earlyAnswer).toBe(false);
    expect(Number(response.headers.get('openai-processing-ms'))).toBeGreaterThanOrEqual(1000);
  });

  it('serves concurrent calls side by side and records the peak', async () => {
    // Prepare
    sim = await startLlmSimulator({ latencyMs: 500 });
    const running = sim;
    const client = new OpenAI({ apiKey: 'test', baseURL: running.url, maxRetries: 0 });
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });

    // Act
    const calls = [1, 2, 3, 4].map((n) => client.chat.completions.create(plainRequest(`Call ${n}`)));
    await until(() => running.stats().inFlight === 4);
    await vi.advanceTimersByTimeAsync(500);
    const completions = await Promise.all(calls);

    // Assess
    expect(completions).toHaveLength(4);
    expect(running.stats()).toMatchObject({ inFlight: 0, maxInFlight: 4, requestsServed: 4 });
  });

  it('frees the slot of a client that gives up while waiting', async () => {
    // Prepare
    sim = await startLlmSimulator({ latencyMs: 60_000 });
    const running = sim;
    const client = new OpenAI({ apiKey: 'test', baseURL: running.url, maxRetries: 0 });
    const controller = new AbortController();

    // Act
    const call = client.chat.completions
      .create(plainRequest('Hello'), { signal: controller.signal })
      .catch((error: unknown) => error);
    await until(() => running.stats().inFlight === 1);
    controller.abort();
    const failure = await call;
    await until(() => running.stats().inFlight === 0);

    // Assess
    expect(failure).toBeInstanceOf(OpenAI.APIUserAbortError);
    expect(running.stats()).toMatchObject({ requestsAborted: 1, requestsServed: 0 });
  });

  it('stops promptly even with a call still waiting', async () => {
    // Prepare
    sim = await startLlmSimulator({ latencyMs: 60_000 });
    const running = sim;
    const client = new OpenAI({ apiKey: 'test', baseURL: running.url, maxRetries: 0 });
    const call = client.chat.completions.create(plainRequest('Hello')).catch((error: unknown) => error);
    await until(() => running.stats().inFlight === 1);

    // Act
    await running.stop();

    // Assess
    expect(await call).toBeInstanceOf(OpenAI.APIConnectionError);
  });
});

describe('Function: latencySampler (lognormal)', () => {
  it('matches the configured median and p99, repeats for a seed, and caps the tail', () => {
    // Prepare
    const spec = { distribution: 'lognormal', medianMs: 800, p99Ms: 6_000 } as const;

    // Act
    const draws = Array.from({ length: 20_000 }, latencySampler(spec, 3));
    const again = Array.from({ length: 20_000 }, latencySampler(spec, 3));

    // Assess
    const sorted = [...draws].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
    const p99 = sorted[Math.floor(sorted.length * 0.99)] ?? 0;
    expect(again).toEqual(draws);
    expect(median).toBeGreaterThan(800 * 0.95);
    expect(median).toBeLessThan(800 * 1.05);
    expect(p99).toBeGreaterThan(6_000 * 0.9);
    expect(p99).toBeLessThan(6_000 * 1.1);
    expect(Math.max(...draws)).toBeLessThanOrEqual(6_000 * LOGNORMAL_CAP_FACTOR);
    expect(Math.min(...draws)).toBeGreaterThan(0);
  });

  it('refuses a p99 below the median', () => {
    expect(() => latencySampler({ distribution: 'lognormal', medianMs: 500, p99Ms: 100 }, 1)).toThrow(RangeError);
  });
});

describe('Function: manualClock', () => {
  it('fires timers in time order as it advances, and not before', () => {
    // Prepare
    const clock = manualClock(1_000);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('late'), 300);
    const cancelled = clock.setTimeout(() => fired.push('cancelled'), 50);
    clock.setTimeout(() => {
      fired.push(`early at ${clock.now()}`);
      clock.setTimeout(() => fired.push('chained'), 50);
    }, 100);
    clock.clearTimeout(cancelled);

    // Act
    clock.advance(99);
    const beforeAny = [...fired];
    clock.advance(201);

    // Assess
    expect(beforeAny).toEqual([]);
    expect(fired).toEqual(['early at 1100', 'chained', 'late']);
    expect(clock.now()).toBe(1_300);
    expect(clock.pendingTimers()).toBe(0);
  });
});
