import * as z from 'zod';
import { COST_GROUPS, type CostGroup, type CostsReport, defaultSince, MAX_COST_DAYS, readCosts } from '#ops/costs.ts';
import { daysBetween } from '#ops/days.ts';
import { shown } from '#ops/errors.ts';
import { type ItemChain, readItemChain } from '#ops/item-chain.ts';
import { type RedriveReport, redrive } from '#ops/redrive.ts';
import { type ReenrichReport, reenrich } from '#ops/reenrich.ts';
import { projectConfig, readStatus, type StatusSnapshot } from '#ops/status-snapshot.ts';
import { LANE_NAMES, type Target } from '#ops/target.ts';
import { utcDay } from '#shared/budget.ts';
import type { ItemState } from '#shared/item-store.ts';
import { intakeItemSchema } from '#shared/schemas.ts';
import { type EconomicsReport, readEconomics } from './economics.ts';
import {
  type DeadLetterGroups,
  deadLetterGroups,
  type ItemFilter,
  type ItemList,
  type ItemStage,
  laneLabelsOf,
  listItems,
} from './item-queries.ts';

/**
 * The console's HTTP API: one handler per route, each a function of the target and the parsed request that
 * returns the JSON to send or throws an ApiError. The queries and actions are the CLI's own functions, so an
 * endpoint answers exactly what the matching `sluice <command> --json` prints for the same target.
 */

/**
 * A request the API refuses: its status and a message that says what was wrong and what is allowed.
 * @example throw new ApiError(404, `no item '${id}' in the state table`);
 */
export class ApiError extends Error {
  readonly status: number;
  /** Sent with the message, e.g. `{ parameter: 'state', allowed: [...] }`. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(status: number, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ApiError';
    this.status = status;
    this.details = details;
  }
}

export interface ApiContext {
  readonly target: Target;
  readonly now: () => number;
}

export interface ApiRequest {
  readonly query: URLSearchParams;
  /** The route's `:name` segments, decoded. */
  readonly params: Readonly<Record<string, string>>;
  /** The parsed JSON body of a POST; undefined otherwise. */
  readonly body: unknown;
}

export interface ApiRoute {
  readonly method: 'GET' | 'POST';
  /** e.g. `/api/items/:id` */
  readonly path: string;
  readonly handle: (context: ApiContext, request: ApiRequest) => Promise<unknown>;
  /**
   * Reads or moves messages of the dead-letter queues (a local status peeks at them to age them; a redrive,
   * dry or not, receives them): such requests run one at a time so that none hides messages from another.
   */
  readonly exclusive?: boolean;
}

/** Most items a list returns. */
const MAX_ITEMS_LIMIT = 1000;
const DEFAULT_ITEMS_LIMIT = 200;

/** The intake schema's rule for ids: an id outside it names no item (and the table would refuse it as a key). */
const ITEM_ID_SCHEMA = intakeItemSchema.shape.id;
const ITEM_ID_RULE = 'must hold ids of 1-128 characters of letters, digits, ".", "_", ":" or "-"';
const isItemId = (value: string) => ITEM_ID_SCHEMA.safeParse(value).success;

/** An item id from the path: 400 when it cannot be an item's id at all (404 is for a valid id with no item). */
function itemIdParam(value: string, name: string): string {
  const result = ITEM_ID_SCHEMA.safeParse(value);
  if (result.success) return result.data;
  throw new ApiError(
    400,
    `${name} ${result.error.issues[0]?.message.replace(/^id /, '') ?? 'is not valid'} (got ${shown(value)})`,
    {
      parameter: name,
    },
  );
}

/** What the pages name and filter by: the item states, the stages (lanes) and each lane's label. */
export interface PipelineShape {
  readonly itemStates: readonly ItemState[];
  readonly stages: readonly ItemStage[];
  readonly laneLabels: Readonly<Record<ItemStage, string>>;
}

/** `GET /api/pipeline`: the item states, stages and lane labels, so the pages never keep copies of them. */
async function getPipeline(context: ApiContext, request: ApiRequest): Promise<PipelineShape> {
  readParams(request.query, {});
  const { pipeline } = context.target;
  return { itemStates: pipeline.states, stages: pipeline.lanes, laneLabels: laneLabelsOf(pipeline) };
}

/** `GET /api/status`: what `sluice status --json` prints. */
async function getStatus(context: ApiContext, request: ApiRequest): Promise<StatusSnapshot> {
  readParams(request.query, {});
  return readStatus(context.target, { now: context.now() });
}

/** `GET /api/items?state=&stage=&degraded=&errorClass=&since=&until=&q=&limit=`: the matching items, newest first. */
async function getItems(context: ApiContext, request: ApiRequest): Promise<ItemList> {
  const params = readParams(request.query, {
    state: choice(context.target.pipeline.states),
    stage: choice(context.target.pipeline.lanes),
    degraded: choice(['true', 'false'] as const),
    errorClass: text(200),
    since: day,
    until: day,
    q: text(200),
    limit: integer(1, MAX_ITEMS_LIMIT),
  });
  checkOrder(params.since, params.until);
  const filter: ItemFilter = {
    state: params.state,
    stage: params.stage,
    degraded: params.degraded === undefined ? undefined : params.degraded === 'true',
    errorClass: params.errorClass,
    since: params.since,
    until: params.until,
    q: params.q,
    limit: params.limit ?? DEFAULT_ITEMS_LIMIT,
  };
  return listItems(context.target, filter);
}

/** `GET /api/items/:id`: what `sluice show ID --json` prints; 404 when there is no such item. */
async function getItem(context: ApiContext, request: ApiRequest): Promise<ItemChain> {
  readParams(request.query, {});
  const itemId = itemIdParam(request.params.id ?? '', 'id');
  const chain = await readItemChain(context.target, itemId);
  if (chain === undefined) {
    throw new ApiError(404, `no item '${itemId}' in the state table ${context.target.stateTableName}`, { itemId });
  }
  return chain;
}

/** `GET /api/dead-letters`: the dead-lettered items by stage and error class. */
async function getDeadLetters(context: ApiContext, request: ApiRequest): Promise<DeadLetterGroups> {
  readParams(request.query, {});
  return deadLetterGroups(context.target);
}

/** `GET /api/costs?since=&until=&by=`: what `sluice costs --json` prints. */
async function getCosts(context: ApiContext, request: ApiRequest): Promise<CostsReport> {
  const params = readParams(request.query, { since: day, until: day, by: choice(COST_GROUPS) });
  const window = dayWindow(context, params.since, params.until);
  const by: CostGroup = params.by ?? 'stage';
  return readCosts(context.target, { ...window, by });
}

/** `GET /api/economics?since=&until=`: tokens and dollars per day, stage and model, with the budget. */
async function getEconomics(context: ApiContext, request: ApiRequest): Promise<EconomicsReport> {
  const params = readParams(request.query, { since: day, until: day });
  const window = dayWindow(context, params.since, params.until);
  return readEconomics(context.target, { ...window, limitUsd: projectConfig()?.dailyBudgetUsd ?? null });
}

const redriveBody = z.strictObject({
  confirm: z.boolean({ error: 'must be true or false' }).optional(),
  stage: z.enum(LANE_NAMES, { error: `must be one of ${LANE_NAMES.join(', ')}` }).optional(),
  errorClass: z.string({ error: 'must be a string' }).min(1, 'must not be empty').max(200).optional(),
  itemIds: z
    .array(z.string({ error: 'must hold item ids (strings)' }).refine(isItemId, ITEM_ID_RULE), {
      error: 'must be an array of item ids',
    })
    .min(1, 'must name at least one item')
    .max(MAX_ITEMS_LIMIT, `must name at most ${MAX_ITEMS_LIMIT} items`)
    .optional(),
  dryRun: z.boolean({ error: 'must be true or false' }).optional(),
});

/**
 * `POST /api/redrive` `{ confirm: true, stage?, errorClass?, itemIds?, dryRun? }`: what `sluice redrive --json`
 * prints. A dry run needs no confirmation and moves nothing.
 */
async function postRedrive(context: ApiContext, request: ApiRequest): Promise<RedriveReport> {
  readParams(request.query, {});
  const body = parseBody(redriveBody, request.body);
  const dryRun = body.dryRun === true;
  if (!dryRun) requireConfirmation(body.confirm, 'move these dead letters back to their queues');
  const { report } = await redrive(context.target, {
    stages: body.stage === undefined ? LANE_NAMES : [body.stage],
    errorClass: body.errorClass,
    itemIds: body.itemIds,
    dryRun,
  });
  return report;
}

const reenrichBody = z.strictObject({
  confirm: z.boolean({ error: 'must be true or false' }).optional(),
  since: z.string({ error: 'must be a day, YYYY-MM-DD' }).refine(isDay, 'must be a day, YYYY-MM-DD').optional(),
  max: z.int({ error: 'must be a whole number' }).min(1, 'must be at least 1').optional(),
  dryRun: z.boolean({ error: 'must be true or false' }).optional(),
});

/**
 * `POST /api/reenrich` `{ confirm: true, since?, max?, dryRun? }`: what `sluice reenrich --json` prints; 409
 * while the memory breaker is open.
 */
async function postReenrich(context: ApiContext, request: ApiRequest): Promise<ReenrichReport> {
  readParams(request.query, {});
  const body = parseBody(reenrichBody, request.body);
  const dryRun = body.dryRun === true;
  if (!dryRun) requireConfirmation(body.confirm, 're-queue these items for a redraft');
  return reenrich(context.target, {
    since: body.since === undefined ? undefined : `${body.since}T00:00:00.000Z`,
    max: body.max,
    dryRun,
  });
}

/** Every route of the API. */
const API_ROUTES: readonly ApiRoute[] = [
  { method: 'GET', path: '/api/pipeline', handle: getPipeline },
  { method: 'GET', path: '/api/status', handle: getStatus, exclusive: true },
  { method: 'GET', path: '/api/items', handle: getItems },
  { method: 'GET', path: '/api/items/:id', handle: getItem },
  { method: 'GET', path: '/api/dead-letters', handle: getDeadLetters },
  { method: 'POST', path: '/api/redrive', handle: postRedrive, exclusive: true },
  { method: 'POST', path: '/api/reenrich', handle: postReenrich },
  { method: 'GET', path: '/api/costs', handle: getCosts },
  { method: 'GET', path: '/api/economics', handle: getEconomics },
];

export type RouteMatch =
  | { kind: 'found'; route: ApiRoute; params: Record<string, string> }
  | { kind: 'wrong-method'; allowed: string[] }
  | { kind: 'none' };

/**
 * The route for a method and a (still percent-encoded) path.
 * @throws {ApiError} 400 when a `:name` segment is not valid percent-encoding.
 * @example matchRoute('GET', '/api/items/sample-001') // { kind: 'found', params: { id: 'sample-001' }, ... }
 */
export function matchRoute(method: string, pathname: string): RouteMatch {
  const segments = pathname.split('/');
  const allowed: string[] = [];
  for (const route of API_ROUTES) {
    const pattern = route.path.split('/');
    if (pattern.length !== segments.length) continue;
    const params: Record<string, string> = {};
    const fits = pattern.every((part, index) => {
      const segment = segments[index] ?? '';
      if (!part.startsWith(':')) return part === segment;
      if (segment === '') return false;
      params[part.slice(1)] = decodeSegment(segment);
      return true;
    });
    if (!fits) continue;
    if (route.method === method || (method === 'HEAD' && route.method === 'GET')) {
      return { kind: 'found', route, params };
    }
    allowed.push(...(route.method === 'GET' ? ['GET', 'HEAD'] : [route.method]));
  }
  return allowed.length > 0 ? { kind: 'wrong-method', allowed } : { kind: 'none' };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch (error) {
    throw new ApiError(400, `the path segment '${segment}' is not valid percent-encoding`, {}, { cause: error });
  }
}

// ----- query parameters -----

/** Parses one query parameter's value; throws ApiError naming the parameter. */
type ParamParser<T> = (value: string, name: string) => T;

/**
 * The query's parameters, each parsed by its parser. An empty value counts as absent (a form's empty select);
 * an unknown or repeated parameter is refused.
 */
function readParams<S extends Record<string, ParamParser<unknown>>>(
  query: URLSearchParams,
  spec: S,
): { [K in keyof S]?: ReturnType<S[K]> } {
  const allowed = Object.keys(spec);
  const result: Record<string, unknown> = {};
  for (const name of new Set(query.keys())) {
    const parse = spec[name];
    if (parse === undefined) {
      throw new ApiError(
        400,
        allowed.length === 0
          ? `unknown parameter '${name}': this endpoint takes no parameters`
          : `unknown parameter '${name}': this endpoint takes ${allowed.join(', ')}`,
        { parameter: name, allowed },
      );
    }
    const values = query.getAll(name);
    if (values.length > 1)
      throw new ApiError(400, `parameter '${name}' is given ${values.length} times`, { parameter: name });
    const value = values[0] ?? '';
    if (value !== '') result[name] = parse(value, name);
  }
  return result as { [K in keyof S]?: ReturnType<S[K]> };
}

function choice<T extends string>(allowed: readonly T[]): ParamParser<T> {
  return (value, name) => {
    if ((allowed as readonly string[]).includes(value)) return value as T;
    throw new ApiError(400, `${name} must be one of ${allowed.join(', ')} (got '${value}')`, {
      parameter: name,
      allowed,
    });
  };
}

function text(maxLength: number): ParamParser<string> {
  return (value, name) => {
    if (value.length <= maxLength) return value;
    throw new ApiError(400, `${name} must be at most ${maxLength} characters (got ${value.length})`, {
      parameter: name,
    });
  };
}

function integer(min: number, max: number): ParamParser<number> {
  return (value, name) => {
    const parsed = Number(value);
    if (/^\d+$/.test(value) && parsed >= min && parsed <= max) return parsed;
    throw new ApiError(400, `${name} must be a whole number from ${min} to ${max} (got '${value}')`, {
      parameter: name,
      allowed: { min, max },
    });
  };
}

const day: ParamParser<string> = (value, name) => {
  if (isDay(value)) return value;
  throw new ApiError(400, `${name} must be a day, YYYY-MM-DD (got '${value}')`, {
    parameter: name,
    allowed: 'YYYY-MM-DD',
  });
};

/** A real calendar day written YYYY-MM-DD (not 2026-02-30). */
function isDay(value: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return false;
  const at = Date.parse(`${value}T00:00:00Z`);
  return Number.isFinite(at) && utcDay(at) === value;
}

function checkOrder(since: string | undefined, until: string | undefined): void {
  if (since !== undefined && until !== undefined && since > until) {
    throw new ApiError(400, `since (${since}) is after until (${until})`, { parameter: 'since' });
  }
}

/** The days of a report: `until` defaults to today, `since` as `sluice costs` does; at most MAX_COST_DAYS. */
function dayWindow(
  context: ApiContext,
  since: string | undefined,
  until: string | undefined,
): { since: string; until: string } {
  const last = until ?? utcDay(context.now());
  const first = since ?? defaultSince(last);
  checkOrder(first, last);
  if (daysBetween(first, last).length > MAX_COST_DAYS) {
    throw new ApiError(400, `since: at most ${MAX_COST_DAYS} days at a time (${first} to ${last} is more)`, {
      parameter: 'since',
    });
  }
  return { since: first, until: last };
}

// ----- bodies -----

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  if (body === undefined) throw new ApiError(400, 'the request needs a JSON object body');
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  if (issue === undefined) throw new ApiError(400, 'the body is not valid');
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys;
    throw new ApiError(400, `unknown field(s) ${keys.join(', ')} in the body`, { parameter: keys[0] });
  }
  const field = issue.path.join('.');
  if (field === '') throw new ApiError(400, 'the body must be a JSON object');
  throw new ApiError(400, `${field} ${issue.message}`, { parameter: field });
}

function requireConfirmation(confirm: boolean | undefined, what: string): void {
  if (confirm === true) return;
  throw new ApiError(
    400,
    `confirmation required: send "confirm": true to ${what} (send "dryRun": true to see what would happen)`,
    { confirmationRequired: true },
  );
}
