import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { LaneName, Target } from '#ops/target.ts';
import type { ItemRecord, ItemState } from '#shared/item-store.ts';
import {
  DEAD_LETTER,
  DISCARDED,
  laneOfState,
  type Pipeline,
  PUBLISHED,
  PUBLISHED_LANE,
  queueKeyOf,
  stageStatesOf,
} from '#shared/pipeline.ts';

/**
 * The console's lists of items, read from the state table's `ByState` index (state, updatedAt): one query per
 * state, newest first, narrowed by date in the key condition and by the other filters as the rows arrive.
 */

/** Where an item is: the stage it is in or died in, or `published` once it is done. */
export type ItemStage = LaneName;

/**
 * How the console names each lane in a redrive: the dead-letter queue and the queue its messages go back to,
 * e.g. `intake DLQ → intake queue`.
 */
export function laneLabelsOf(pipeline: Pipeline): Readonly<Record<LaneName, string>> {
  return Object.fromEntries(
    pipeline.lanes.map((lane) => {
      const label = queueKeyOf(pipeline, lane).toLowerCase();
      return [lane, `${label} DLQ → ${label} queue`];
    }),
  );
}

/** The states an item can be in while it is in (or after it died in) a stage, or once published. */
function statesOfStage(pipeline: Pipeline, stage: ItemStage): readonly ItemState[] {
  if (stage === PUBLISHED_LANE) return [PUBLISHED];
  const states = stageStatesOf(pipeline, stage);
  return [states.ready, ...states.working, DEAD_LETTER, DISCARDED];
}

export interface ItemSummary {
  itemId: string;
  state: ItemState;
  stage: ItemStage;
  degraded: boolean;
  /** The class of the error that dead-lettered the item, else of its last failed attempt. */
  errorClass?: string;
  /** Failed attempts in its stage (both stages once published). */
  attempts?: number;
  updatedAt: string;
  title?: string;
}

export interface ItemFilter {
  state?: ItemState | undefined;
  stage?: ItemStage | undefined;
  degraded?: boolean | undefined;
  errorClass?: string | undefined;
  /** First UTC day (YYYY-MM-DD) of the last update, included. */
  since?: string | undefined;
  /** Last UTC day (YYYY-MM-DD) of the last update, included. */
  until?: string | undefined;
  /** A part of the item id. */
  q?: string | undefined;
  limit: number;
}

export interface ItemList {
  /** Newest first, at most `limit`. */
  items: ItemSummary[];
  /** How many items match. */
  total: number;
  /** More items match than were returned. */
  truncated: boolean;
}

/** The attributes a summary needs; the index projects them all. */
const SUMMARY_ATTRIBUTES = ['itemId', 'state', 'updatedAt', 'degraded', 'attempts', 'lastError', 'deadLetter'];

/** The record's fields a summary reads. */
type SummaryRow = Pick<ItemRecord, 'itemId' | 'state' | 'updatedAt' | 'degraded' | 'attempts' | 'lastError'> &
  Pick<ItemRecord, 'deadLetter'> & { input?: { title?: string } };

/**
 * The items that match the filter, newest first.
 * @example const { items, total } = await listItems(target, { state: 'DEAD_LETTER', limit: 50 });
 */
export async function listItems(target: Target, filter: ItemFilter): Promise<ItemList> {
  const { pipeline } = target;
  const inStage = filter.stage === undefined ? undefined : statesOfStage(pipeline, filter.stage);
  const states = pipeline.states.filter(
    (state) => (filter.state === undefined || state === filter.state) && (inStage?.includes(state) ?? true),
  );
  const summarise = (row: SummaryRow) => summaryOf(pipeline, row);
  const newestFirst = (a: ItemSummary, b: ItemSummary) =>
    b.updatedAt.localeCompare(a.updatedAt) || a.itemId.localeCompare(b.itemId);
  // Filters the key cannot express need every row of the states; without them, the newest `limit` rows of each
  // state and a count of the rest are enough, however large the table.
  const everyRow =
    filter.degraded !== undefined ||
    filter.errorClass !== undefined ||
    filter.q !== undefined ||
    (filter.stage !== undefined && (states.includes(DEAD_LETTER) || states.includes(DISCARDED)));
  if (!everyRow) {
    const [pages, counts] = await Promise.all([
      Promise.all(states.map((state) => queryState(target, state, filter, filter.limit))),
      Promise.all(states.map((state) => countItemsInState(target, state, filter))),
    ]);
    const total = counts.reduce((sum, count) => sum + count, 0);
    return {
      items: pages.flat().map(summarise).sort(newestFirst).slice(0, filter.limit),
      total,
      truncated: total > filter.limit,
    };
  }
  const pages = await Promise.all(states.map((state) => queryState(target, state, filter)));
  const matching = pages
    .flat()
    .map(summarise)
    .filter((item) => matches(item, filter))
    .sort(newestFirst);
  return {
    items: matching.slice(0, filter.limit),
    total: matching.length,
    truncated: matching.length > filter.limit,
  };
}

export interface DeadLetterGroup {
  stage: string;
  errorClass: string;
  count: number;
  /** The newest dead letter of the group. */
  sample: { itemId: string; message: string; stack?: string };
  /** Newest first. */
  itemIds: string[];
}

export interface DeadLetterGroups {
  /** Largest group first. */
  groups: DeadLetterGroup[];
  total: number;
}

/**
 * The items in state DEAD_LETTER grouped by the stage they died in and the error class that put them there.
 * @example const { groups } = await deadLetterGroups(target);
 */
export async function deadLetterGroups(target: Target): Promise<DeadLetterGroups> {
  const rows = (await queryState(target, 'DEAD_LETTER', {})).sort((a, b) => b.updatedAt.localeCompare(a.updatedAt));
  const groups = new Map<string, DeadLetterGroup>();
  for (const row of rows) {
    const failure = row.deadLetter ?? row.lastError;
    const stage = failure?.stage ?? 'unknown';
    const errorClass = failure?.errorClass ?? 'unknown';
    const key = `${stage}\u0000${errorClass}`;
    const group = groups.get(key) ?? {
      stage,
      errorClass,
      count: 0,
      sample: { itemId: row.itemId, message: failure?.message ?? '' },
      itemIds: [],
    };
    group.count += 1;
    group.itemIds.push(row.itemId);
    groups.set(key, group);
  }
  return {
    groups: [...groups.values()].sort(
      (a, b) => b.count - a.count || a.stage.localeCompare(b.stage) || a.errorClass.localeCompare(b.errorClass),
    ),
    total: rows.length,
  };
}

/**
 * How many items in `state` were last updated within the days given, counted on the index (no item is read).
 * @example const published = await countItemsInState(target, 'PUBLISHED', { since: '2026-11-01' });
 */
export async function countItemsInState(
  target: Target,
  state: ItemState,
  window: { since?: string | undefined; until?: string | undefined },
): Promise<number> {
  let count = 0;
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await target.dynamo.send(
      new QueryCommand({ ...stateQuery(target, state, window), Select: 'COUNT', ExclusiveStartKey: startKey }),
    );
    count += page.Count ?? 0;
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
  return count;
}

/** The items in `state` within the days given, newest first: all of them, or the newest `maxRows`. */
async function queryState(
  target: Target,
  state: ItemState,
  window: { since?: string | undefined; until?: string | undefined },
  maxRows = Number.POSITIVE_INFINITY,
): Promise<SummaryRow[]> {
  const query = stateQuery(target, state, window);
  const names: Record<string, string> = { ...query.ExpressionAttributeNames, '#input': 'input', '#title': 'title' };
  for (const [index, attribute] of SUMMARY_ATTRIBUTES.entries()) names[`#a${index}`] = attribute;
  const projection = [...SUMMARY_ATTRIBUTES.map((_attribute, index) => `#a${index}`), '#input.#title'].join(', ');
  const rows: SummaryRow[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await target.dynamo.send(
      new QueryCommand({
        ...query,
        ExpressionAttributeNames: names,
        ProjectionExpression: projection,
        ScanIndexForward: false,
        ExclusiveStartKey: startKey,
        ...(Number.isFinite(maxRows) ? { Limit: maxRows - rows.length } : {}),
      }),
    );
    // The table is written only by the item store, so its rows have the record's shape.
    rows.push(...((page.Items ?? []) as SummaryRow[]));
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined && rows.length < maxRows);
  return rows;
}

/** The key condition of one state's items, within the days given (ISO timestamps sort as text). */
function stateQuery(
  target: Target,
  state: ItemState,
  window: { since?: string | undefined; until?: string | undefined },
) {
  const values: Record<string, string> = { ':state': state };
  let condition = '#state = :state';
  if (window.since !== undefined || window.until !== undefined) {
    values[':from'] = window.since ?? '0000';
    // '~' sorts after every character of an ISO timestamp, so the whole last day is included.
    values[':to'] = `${window.until ?? '9999'}~`;
    condition += ' AND #updatedAt BETWEEN :from AND :to';
  }
  return {
    TableName: target.stateTableName,
    IndexName: 'ByState',
    KeyConditionExpression: condition,
    ExpressionAttributeNames: {
      '#state': 'state',
      ...(condition.includes('#updatedAt') ? { '#updatedAt': 'updatedAt' } : {}),
    } as Record<string, string>,
    ExpressionAttributeValues: values,
  };
}

function summaryOf(pipeline: Pipeline, row: SummaryRow): ItemSummary {
  const failure = row.deadLetter ?? row.lastError;
  const stage = stageOf(pipeline, row);
  const attempts =
    stage === 'published' ? (row.attempts?.extract ?? 0) + (row.attempts?.draft ?? 0) : row.attempts?.[stage];
  return {
    itemId: row.itemId,
    state: row.state,
    stage,
    degraded: (row.degraded ?? []).length > 0,
    ...(failure === undefined ? {} : { errorClass: failure.errorClass }),
    ...(attempts === undefined ? {} : { attempts }),
    updatedAt: row.updatedAt,
    ...(typeof row.input?.title === 'string' ? { title: row.input.title } : {}),
  };
}

function stageOf(pipeline: Pipeline, row: SummaryRow): ItemStage {
  // A dead or discarded item is shown in the stage it died in.
  return (
    laneOfState(pipeline, row.state) ?? (row.deadLetter ?? row.lastError)?.stage ?? (pipeline.lanes[0] as ItemStage)
  );
}

function matches(item: ItemSummary, filter: ItemFilter): boolean {
  return (
    (filter.stage === undefined || item.stage === filter.stage) &&
    (filter.degraded === undefined || item.degraded === filter.degraded) &&
    (filter.errorClass === undefined || item.errorClass === filter.errorClass) &&
    (filter.q === undefined || item.itemId.toLowerCase().includes(filter.q.toLowerCase()))
  );
}
