import * as z from 'zod';
import { readJsonBody } from '../aws-http.ts';
import type { LocalEventSourceMappings } from './event-source-mappings.ts';
import { type LambdaAnswer, LambdaApiError, type LambdaRequest, type LambdaRoute } from './lambda-api.ts';

/** Path of the 2015-03-31 Lambda API under which the mappings live. */
const MAPPINGS_PATH = '/2015-03-31/event-source-mappings';

/** The members of an update request, checked for type; unknown members are kept so they can be refused by name. */
const updateRequestSchema = z.looseObject({
  FunctionName: z.string().optional(),
  Enabled: z.boolean().optional(),
  BatchSize: z.number().int().optional(),
  MaximumBatchingWindowInSeconds: z.number().int().optional(),
  ScalingConfig: z.looseObject({ MaximumConcurrency: z.number().int().optional() }).optional(),
});

/**
 * The REST routes of `ListEventSourceMappings` (`GET .../event-source-mappings`), `GetEventSourceMapping`
 * (`GET .../event-source-mappings/<UUID>`) and `UpdateEventSourceMapping` (`PUT` of the same), answered from the
 * mappings.
 * @example const routes = [mappingRoute(mappings), functionRoute(functions)];
 */
export function mappingRoute(mappings: LocalEventSourceMappings): LambdaRoute {
  return async ({ method, path, url, http }) => {
    if (path === MAPPINGS_PATH && method === 'GET') return { status: 200, body: mappings.list(listFilterOf(url)) };
    if (!path.startsWith(`${MAPPINGS_PATH}/`)) return undefined;
    const uuid = decodeURIComponent(path.slice(MAPPINGS_PATH.length + 1));
    if (method === 'GET') return { status: 200, body: mappings.get(uuid) };
    if (method === 'PUT') return update(mappings, uuid, http);
    return undefined;
  };
}

/** The list filter a `ListEventSourceMappings` query asks for, `MaxItems` checked as AWS checks it. */
function listFilterOf(url: URL): Parameters<LocalEventSourceMappings['list']>[0] {
  const maxItems = url.searchParams.get('MaxItems');
  const max = maxItems === null ? undefined : Number(maxItems);
  if (max !== undefined && (!Number.isInteger(max) || max < 1 || max > 10_000)) {
    throw new LambdaApiError(
      'ValidationException',
      400,
      `1 validation error detected: Value '${maxItems}' at 'maxItems' failed to satisfy constraint: Member must have value between 1 and 10000`,
    );
  }
  return {
    ...optionalParameter(url, 'EventSourceArn', 'eventSourceArn'),
    ...optionalParameter(url, 'FunctionName', 'functionName'),
    ...optionalParameter(url, 'Marker', 'marker'),
    ...(max !== undefined && { maxItems: max }),
  };
}

async function update(
  mappings: LocalEventSourceMappings,
  uuid: string,
  http: LambdaRequest['http'],
): Promise<LambdaAnswer> {
  const body = await readJsonBody(http, {
    tooLarge: () => new LambdaApiError('RequestTooLargeException', 413, 'Request must be smaller than 256 KB'),
    notJson: (why) =>
      new LambdaApiError('InvalidRequestContentException', 400, `Could not parse request body into json: ${why}`),
  });
  const parsed = updateRequestSchema.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new LambdaApiError(
      'InvalidRequestContentException',
      400,
      `Could not read the request body: ${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return { status: 202, body: await mappings.update(uuid, parsed.data) };
}

function optionalParameter<K extends string>(url: URL, name: string, key: K): Partial<Record<K, string>> {
  const value = url.searchParams.get(name);
  return value === null ? {} : ({ [key]: value } as Record<K, string>);
}
