import { PIPELINE } from '#functions/pipeline.ts';
import { InjectedCrash } from '#shared/errors.ts';
import type { CrashInjector, CrashPoint } from '#shared/faults.ts';
import type { ItemStore } from '#shared/item-store.ts';
import type { Pipeline } from '#shared/pipeline.ts';
import type { Stage } from '#shared/runtime-config.ts';
import { seededRandom, stableHash } from '#sim/hash.ts';
import { CHAOS_CRASH_POINTS, type ChaosCrashPoint } from './scenario.ts';

/**
 * Seeded crashes for a chaos run. Whether an item crashes the n-th time it passes a point depends only on the
 * seed, the point, the item and n, never on the order in which concurrent invocations get there, so a scenario
 * crashes the same items at the same steps on every run. Every crash is counted by stage, point and item.
 */

export type CrashCounts = Record<ChaosCrashPoint, number>;

export interface CrashReport {
  total: number;
  byPoint: CrashCounts;
  /** Every stage of the run's pipeline, by name (zeros when none crashed there). */
  byStage: Record<Stage, CrashCounts>;
}

const zeroCounts = (): CrashCounts => Object.fromEntries(CHAOS_CRASH_POINTS.map((point) => [point, 0])) as CrashCounts;

/**
 * The crashes a report counts for one stage.
 * @throws {Error} naming the stages the report has, when it has no such stage.
 * @example stageCrashes(report, 'draft')['after-send']
 */
function stageCrashes(report: Pick<CrashReport, 'byStage'>, stage: Stage): CrashCounts {
  const counts = report.byStage[stage];
  if (counts === undefined) {
    throw new Error(
      `the crash report has no stage ${JSON.stringify(stage)} (its stages: ${Object.keys(report.byStage).join(', ')})`,
    );
  }
  return counts;
}

/**
 * @example
 * const crashes = new ChaosCrashes({ 'after-send': 0.2, maxPerItem: 1 }, 7);
 * startDevRuntime({ decorate: (runtime) => ({ ...runtime, faults: crashes.forStage(runtime.config.stage) }) });
 */
export class ChaosCrashes {
  readonly #probabilities: Partial<Record<ChaosCrashPoint, number>>;
  readonly #maxPerItem: number;
  readonly #seed: number;
  /** Passes per `<point>#<item or message>`, crashes per item or message. */
  readonly #passes = new Map<string, number>();
  readonly #crashes = new Map<string, number>();
  readonly #byItem = new Map<string, CrashCounts>();
  readonly #itemOfMessage = new Map<string, string>();
  readonly #byStage: Record<Stage, CrashCounts>;

  /** `pipeline`: the stages of the run, each counted apart (@default the pipeline sluice ships). */
  constructor(
    settings: Partial<Record<ChaosCrashPoint, number>> & { maxPerItem: number },
    seed: number,
    pipeline: Pipeline = PIPELINE,
  ) {
    const { maxPerItem, ...probabilities } = settings;
    this.#probabilities = probabilities;
    this.#maxPerItem = maxPerItem;
    this.#seed = seed;
    this.#byStage = Object.fromEntries(pipeline.stages.map((stage) => [stage.name, zeroCounts()]));
  }

  /** The injector one stage's runtime gets: crashes there are counted for that stage. */
  forStage(stage: Stage): CrashInjector {
    return {
      crashPoint: (point: CrashPoint, itemId: string) => {
        if (this.#decide(point, stage, itemId)) {
          this.#count(stage, point, itemId);
          throw new InjectedCrash(point);
        }
      },
    };
  }

  /**
   * The event source's side: whether to lose the deletes of an invocation that finished these messages (from
   * `stage`'s queue). A message counts against its item's crashes once the item it carries is known.
   */
  loseDeletes(stage: Stage, messageIds: readonly string[]): boolean {
    const lost = messageIds.filter((messageId) =>
      this.#decide('delete', stage, this.#itemOfMessage.get(messageId) ?? messageId),
    );
    if (lost.length === 0) return false;
    stageCrashes({ byStage: this.#byStage }, stage).delete += 1;
    for (const messageId of lost) {
      const itemId = this.#itemOfMessage.get(messageId);
      if (itemId !== undefined) this.#countItem('delete', itemId);
    }
    return true;
  }

  /**
   * Watches an item store for the leases invocations take, to learn which item each message carries (the lease
   * owner ends with the message id), so lost deletes are decided and counted per item like every other crash.
   */
  observe(items: ItemStore): ItemStore {
    const learn = (itemId: string, owner: unknown) => {
      const messageId = typeof owner === 'string' ? owner.split('#').at(-1) : undefined;
      if (messageId) this.#itemOfMessage.set(messageId, itemId);
    };
    const create: ItemStore['create'] = async (itemId, init) => {
      learn(itemId, init.leaseOwner);
      return items.create(itemId, init);
    };
    const update: ItemStore['update'] = async (item, change) => {
      learn(item.itemId, change.set?.leaseOwner);
      return items.update(item, change);
    };
    // A proxy rather than a copy: the store's private fields live on the original instance.
    return new Proxy(items, {
      get(target, property) {
        if (property === 'create') return create;
        if (property === 'update') return update;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  }

  /** Crashes injected so far. */
  report(): CrashReport {
    const byPoint = zeroCounts();
    for (const counts of Object.values(this.#byStage)) {
      for (const point of CHAOS_CRASH_POINTS) byPoint[point] += counts[point];
    }
    return {
      total: Object.values(byPoint).reduce((sum, n) => sum + n, 0),
      byPoint,
      byStage: structuredClone(this.#byStage),
    };
  }

  /** Crashes injected for one item, by point (zeros when none). */
  forItem(itemId: string): CrashCounts {
    return { ...(this.#byItem.get(itemId) ?? zeroCounts()) };
  }

  /** `key` is the item (or, for `delete`, the message): it crashes at most `maxPerItem` times over all points. */
  #decide(point: ChaosCrashPoint, stage: Stage, key: string): boolean {
    const probability = this.#probabilities[point] ?? 0;
    if (probability <= 0) return false;
    const slot = `${stage}#${point}#${key}`;
    const pass = this.#passes.get(slot) ?? 0;
    this.#passes.set(slot, pass + 1);
    if ((this.#crashes.get(key) ?? 0) >= this.#maxPerItem) return false;
    const draw = seededRandom(stableHash(`${this.#seed}:${slot}:${pass}`))();
    if (draw >= probability) return false;
    this.#crashes.set(key, (this.#crashes.get(key) ?? 0) + 1);
    return true;
  }

  #count(stage: Stage, point: ChaosCrashPoint, itemId: string) {
    stageCrashes({ byStage: this.#byStage }, stage)[point] += 1;
    this.#countItem(point, itemId);
  }

  #countItem(point: ChaosCrashPoint, itemId: string) {
    const counts = this.#byItem.get(itemId) ?? zeroCounts();
    counts[point] += 1;
    this.#byItem.set(itemId, counts);
  }
}
