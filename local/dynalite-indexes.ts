import { createRequire } from 'node:module';

/**
 * dynalite 4 writes an item's index entries and then the item itself as separate LevelDB writes (`updateIndexes`,
 * then the item's `put`, in `db/index.js`). A process killed between the two (a kill -9 of `sluice dev`, an OOM
 * kill) leaves an index entry for a state the item never reached on disk, and keeps it for good: later writes
 * delete only the entry that the stored item implies. The `ByState` counts then see an item that is not there, and
 * a run never becomes idle. DynamoDB derives its indexes from the committed item, so it has no such orphans; this
 * module rebuilds every secondary index from the items when a data dir was left open by a process that did not
 * stop, so the local runtime behaves as AWS does. dynalite exposes no hook for this; its store is captured as it
 * is created, and the rebuild uses dynalite's own index-key functions, so the entries are those it would write.
 */

interface TableDescription {
  readonly TableName: string;
  readonly GlobalSecondaryIndexes?: readonly IndexDescription[];
  readonly LocalSecondaryIndexes?: readonly IndexDescription[];
}

interface IndexDescription {
  readonly IndexName: string;
}

interface IndexAction {
  readonly index: string;
  readonly key: string;
  readonly item: unknown;
}

type LevelOperation = { type: 'put'; key: string; value: unknown } | { type: 'del'; key: string };

interface LevelDb {
  iterator(range: { gte: string; lt: string }): AsyncIterable<[string, unknown]>;
  keys(range: { gte: string; lt: string }): AsyncIterable<string>;
  batch(operations: LevelOperation[]): Promise<void>;
}

/** What this module uses of dynalite's store (`db.create()`). */
export interface DynaliteStore {
  readonly db: LevelDb;
}

interface DynaliteDbModule {
  create(options: unknown): DynaliteStore;
  getIndexActions(
    indexes: readonly IndexDescription[],
    existingItem: unknown,
    item: unknown,
    table: TableDescription,
  ): { puts: IndexAction[] };
}

const dynaliteDb = (): DynaliteDbModule => createRequire(import.meta.url)('dynalite/db') as DynaliteDbModule;

/**
 * Calls `start` (which creates one dynalite server) and returns what it returned with the store that server uses.
 * @example const { value: server, store } = captureDynaliteStore(() => dynalite({ path }));
 */
export function captureDynaliteStore<T>(start: () => T): { value: T; store: DynaliteStore } {
  const module = dynaliteDb();
  const create = module.create;
  let store: DynaliteStore | undefined;
  module.create = (options) => {
    store = create(options);
    return store;
  };
  try {
    const value = start();
    if (store === undefined) throw new Error('dynalite no longer creates its store through db.create()');
    return { value, store };
  } finally {
    module.create = create;
  }
}

/** Key ranges of dynalite's sub-databases inside its one LevelDB (`<name>~<key>`). */
const range = (prefix: string) => ({ gte: prefix, lt: `${prefix}\xff` });

/**
 * Rebuilds every secondary index of every table from the table's items, in one atomic batch per table.
 * @returns how many index entries were removed because no stored item implies them
 */
export async function rebuildIndexes(store: DynaliteStore): Promise<number> {
  const { getIndexActions } = dynaliteDb();
  let orphans = 0;
  for await (const [, value] of store.db.iterator(range('table~'))) {
    const table = value as TableDescription;
    const kinds = [
      ['global', table.GlobalSecondaryIndexes ?? []],
      ['local', table.LocalSecondaryIndexes ?? []],
    ] as const;
    const expected = new Map<string, unknown>();
    for await (const [, item] of store.db.iterator(range(`item-${table.TableName}~`))) {
      for (const [kind, indexes] of kinds) {
        for (const put of getIndexActions(indexes, null, item, table).puts) {
          expected.set(`index-${kind}~${table.TableName}~${put.index}~${put.key}`, put.item);
        }
      }
    }
    const operations: LevelOperation[] = [];
    for (const [kind, indexes] of kinds) {
      for (const index of indexes) {
        for await (const key of store.db.keys(range(`index-${kind}~${table.TableName}~${index.IndexName}~`))) {
          if (!expected.has(key)) operations.push({ type: 'del', key });
        }
      }
    }
    orphans += operations.length;
    for (const [key, item] of expected) operations.push({ type: 'put', key, value: item });
    if (operations.length > 0) await store.db.batch(operations);
  }
  return orphans;
}
