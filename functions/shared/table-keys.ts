import type { Stage } from './runtime-config.ts';

/**
 * Every key of the state table, in one module. The table holds one partition per record: an item (its record and
 * its calls' ledger rows), a day's usage per stage and model, a day's budget, a model's limiter, a dependency's
 * breaker, and a stage's control and supervisor records. Writers build keys here; readers that scan the table
 * (status, the chaos checker, the run report) tell a row's kind by {@link recordKindOf}.
 */

/** A state-table key. */
export interface TableKey {
  readonly pk: string;
  readonly sk: string;
}

const ITEM = 'ITEM#';
const CALL = 'CALL#';
const USAGE = 'USAGE#';
const BUDGET = 'BUDGET#';
const LIMIT = 'LIMIT#';
const BREAKER = 'BREAKER#';
const CONTROL = 'CONTROL#';
const SUPERVISOR = 'SUPERVISOR#';

/** The partition of an item: its record and its calls. @example itemPartition('a-1') // 'ITEM#a-1' */
export const itemPartition = (itemId: string): string => `${ITEM}${itemId}`;

/** Key of an item's record. @example itemKey('a-1') // { pk: 'ITEM#a-1', sk: 'ITEM' } */
export const itemKey = (itemId: string): TableKey => ({ pk: itemPartition(itemId), sk: 'ITEM' });

/**
 * Key of one ledger row of an item's calls: the stage, the step and the call's number in the step.
 * @example callKey('a-1', 'draft', 'review', 2) // { pk: 'ITEM#a-1', sk: 'CALL#draft#review#002' }
 */
export const callKey = (itemId: string, stage: Stage, step: string, n: number): TableKey => ({
  pk: itemPartition(itemId),
  sk: `${callPrefix(stage)}${step}#${String(n).padStart(3, '0')}`,
});

/** The sort-key prefix of an item's calls, of one stage or of all. @example callPrefix('draft') // 'CALL#draft#' */
export const callPrefix = (stage?: Stage): string => (stage === undefined ? CALL : `${CALL}${stage}#`);

/** Whether a row of an item's partition is a ledger row. */
export const isCallRow = (row: { pk?: unknown; sk?: unknown }): boolean =>
  String(row.pk).startsWith(ITEM) && String(row.sk).startsWith(CALL);

/** The partition of a UTC day's usage rows. @example usagePartition('2026-12-03') // 'USAGE#2026-12-03' */
export const usagePartition = (day: string): string => `${USAGE}${day}`;

/** Key of a day's usage of one model by one stage. */
export const usageKey = (day: string, stage: Stage, model: string): TableKey => ({
  pk: usagePartition(day),
  sk: `${stage}#${model}`,
});

/** Key of a UTC day's budget record. @example budgetKey('2026-12-03') // { pk: 'BUDGET#2026-12-03', sk: 'BUDGET' } */
export const budgetKey = (day: string): TableKey => ({ pk: `${BUDGET}${day}`, sk: 'BUDGET' });

/** Key of a model's rate-limiter record. @example limitKey('gpt-4o-mini') // { pk: 'LIMIT#gpt-4o-mini', sk: 'LIMIT' } */
export const limitKey = (model: string): TableKey => ({ pk: `${LIMIT}${model}`, sk: 'LIMIT' });

/** Key of a dependency's breaker record. @example breakerKey('memory') // { pk: 'BREAKER#memory', sk: 'BREAKER' } */
export const breakerKey = (dependency: string): TableKey => ({ pk: `${BREAKER}${dependency}`, sk: 'BREAKER' });

/** Key of a stage's control record. @example controlKey('extract') // { pk: 'CONTROL#extract', sk: 'CONTROL' } */
export const controlKey = (stage: Stage): TableKey => ({ pk: `${CONTROL}${stage}`, sk: 'CONTROL' });

/** Key of a stage's supervisor record. @example supervisorKey('draft') // { pk: 'SUPERVISOR#draft', sk: 'SUPERVISOR' } */
export const supervisorKey = (stage: Stage): TableKey => ({ pk: `${SUPERVISOR}${stage}`, sk: 'SUPERVISOR' });

/** What a partition key names. */
export type RecordKind = 'item' | 'usage' | 'budget' | 'limit' | 'breaker' | 'control' | 'supervisor';

const KINDS: readonly (readonly [string, RecordKind])[] = [
  [ITEM, 'item'],
  [USAGE, 'usage'],
  [BUDGET, 'budget'],
  [LIMIT, 'limit'],
  [BREAKER, 'breaker'],
  [CONTROL, 'control'],
  [SUPERVISOR, 'supervisor'],
];

/**
 * The kind of a row's partition and the name in it (an item id, a day, a model, a dependency, a stage), or undefined
 * for a key of none of these.
 * @example recordKindOf('BREAKER#memory') // { kind: 'breaker', name: 'memory' }
 */
export function recordKindOf(pk: string): { kind: RecordKind; name: string } | undefined {
  for (const [prefix, kind] of KINDS) if (pk.startsWith(prefix)) return { kind, name: pk.slice(prefix.length) };
  return undefined;
}
