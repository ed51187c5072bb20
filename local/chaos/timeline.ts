import { MemoryUnavailableError } from '#shared/errors.ts';
import type { MemoryStore } from '#shared/memory-store.ts';
import type { LlmSimulator, OutageMode, RateLimits } from '#sim/server.ts';

/**
 * The timed faults of a chaos run, relative to its start: memory outages (the memory store fails every call
 * inside a window), provider outages and provider limit changes (both switched on the simulator through
 * `configure`, so they are relative to the run, not to when the simulator started). What really happened —
 * when each window actually opened and closed, what the memory store was asked during it — is recorded for the
 * checker.
 */

export interface TimedWindow {
  atSeconds: number;
  forSeconds: number;
}

export interface ProviderOutage extends TimedWindow {
  mode: OutageMode;
}

/** A window as it happened, in milliseconds since the run started. */
export interface ObservedWindow {
  startMs: number;
  endMs: number;
}

export interface MemoryOutageStats {
  windows: ObservedWindow[];
  /** Lookups (`findRelated`) made while the memory store was down: each failed. */
  lookupsDuringOutage: number;
  /** Writes (`remember`) made while the memory store was down: each failed. */
  writesDuringOutage: number;
  lookups: number;
  writes: number;
}

export interface TimelineReport {
  memory: MemoryOutageStats;
  providerOutages: (ObservedWindow & { mode: OutageMode })[];
  limitChanges: { atMs: number; limits: RateLimits }[];
}

/**
 * @example
 * const timeline = new ChaosTimeline({ memoryOutages, providerOutages, limitChanges });
 * const dev = await startDevRuntime({ decorate: (runtime) => ({ ...runtime, memory: timeline.memory(runtime.memory) }) });
 * timeline.start(dev.simulator, Date.now());
 * // ...
 * timeline.stop();
 */
export class ChaosTimeline {
  readonly #memoryOutages: readonly TimedWindow[];
  readonly #providerOutages: readonly ProviderOutage[];
  readonly #limitChanges: readonly { atSeconds: number; limits: RateLimits }[];
  readonly #now: () => number;
  readonly #timers: NodeJS.Timeout[] = [];
  #startedAt: number | undefined;
  #memory: MemoryOutageStats = { windows: [], lookupsDuringOutage: 0, writesDuringOutage: 0, lookups: 0, writes: 0 };
  #provider: TimelineReport['providerOutages'] = [];
  #limits: TimelineReport['limitChanges'] = [];

  constructor(
    plan: {
      memoryOutages: readonly TimedWindow[];
      providerOutages: readonly ProviderOutage[];
      limitChanges: readonly { atSeconds: number; limits: RateLimits }[];
    },
    now: () => number = Date.now,
  ) {
    this.#memoryOutages = plan.memoryOutages;
    this.#providerOutages = plan.providerOutages;
    this.#limitChanges = plan.limitChanges;
    this.#now = now;
  }

  /** Starts the clock of the run and schedules the simulator's changes. */
  start(simulator: LlmSimulator | undefined): void {
    const startedAt = this.#now();
    this.#startedAt = startedAt;
    this.#memory.windows = this.#memoryOutages.map((window) => ({
      startMs: window.atSeconds * 1000,
      endMs: (window.atSeconds + window.forSeconds) * 1000,
    }));
    if (simulator === undefined) return;
    const at = (seconds: number, action: () => void) => {
      const timer = setTimeout(action, Math.max(0, startedAt + seconds * 1000 - this.#now()));
      timer.unref();
      this.#timers.push(timer);
    };
    // Windows may touch (one ends at the second the next starts), and timers due at the same moment fire in no
    // set order: a window's end only switches the outage off while that window is the one on.
    let current: ObservedWindow | undefined;
    for (const outage of this.#providerOutages) {
      let observed: (ObservedWindow & { mode: OutageMode }) | undefined;
      at(outage.atSeconds, () => {
        simulator.configure({ outage: { mode: outage.mode } });
        const startMs = this.#elapsed();
        observed = { startMs, endMs: startMs + outage.forSeconds * 1000, mode: outage.mode };
        current = observed;
        this.#provider.push(observed);
      });
      at(outage.atSeconds + outage.forSeconds, () => {
        if (observed === undefined) return;
        observed.endMs = Math.min(observed.endMs, this.#elapsed());
        if (current !== observed) return;
        simulator.configure({ outage: null });
        current = undefined;
      });
    }
    for (const change of this.#limitChanges) {
      at(change.atSeconds, () => {
        simulator.configure({ limits: change.limits });
        this.#limits.push({ atMs: this.#elapsed(), limits: change.limits });
      });
    }
  }

  /** Cancels what has not happened yet; an outage still on is cut short where the run ended. */
  stop(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.length = 0;
    const now = this.#elapsed();
    for (const outage of this.#provider) outage.endMs = Math.min(outage.endMs, now);
    for (const window of this.#memory.windows) window.endMs = Math.min(window.endMs, now);
    this.#memory.windows = this.#memory.windows.filter((window) => window.startMs < now);
  }

  /** Whether the memory store is down now. */
  memoryDown(): boolean {
    return this.#inWindow(this.#memoryOutages);
  }

  /** Whether a provider outage of the timeline is on now. */
  providerDown(): boolean {
    return this.#inWindow(this.#providerOutages);
  }

  /**
   * The memory store as the stages see it during the run: every lookup and write fails while an outage is on,
   * as a store that refuses connections would.
   */
  memory(store: MemoryStore): MemoryStore {
    const findRelated: MemoryStore['findRelated'] = async (query) => {
      this.#memory.lookups += 1;
      if (this.memoryDown()) {
        this.#memory.lookupsDuringOutage += 1;
        throw new MemoryUnavailableError('memory store unavailable (chaos outage)');
      }
      return store.findRelated(query);
    };
    const remember: MemoryStore['remember'] = async (entry) => {
      this.#memory.writes += 1;
      if (this.memoryDown()) {
        this.#memory.writesDuringOutage += 1;
        throw new MemoryUnavailableError('memory store unavailable (chaos outage)');
      }
      return store.remember(entry);
    };
    // A proxy rather than a copy: the store's private fields live on the original instance.
    return new Proxy(store, {
      get(target, property) {
        if (property === 'findRelated') return findRelated;
        if (property === 'remember') return remember;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  report(): TimelineReport {
    return {
      memory: structuredClone(this.#memory),
      providerOutages: this.#provider.map((outage) => ({ ...outage })),
      limitChanges: this.#limits.map((change) => ({ ...change })),
    };
  }

  #inWindow(windows: readonly TimedWindow[]): boolean {
    if (this.#startedAt === undefined) return false;
    const elapsed = this.#elapsed();
    return windows.some(
      (window) => window.atSeconds * 1000 <= elapsed && elapsed < (window.atSeconds + window.forSeconds) * 1000,
    );
  }

  #elapsed(): number {
    return this.#now() - (this.#startedAt ?? this.#now());
  }
}
