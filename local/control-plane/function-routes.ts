import type { LocalFunctions } from './functions.ts';
import type { LambdaRoute } from './lambda-api.ts';

/** Path of the 2015-03-31 Lambda API under which the functions live. */
const FUNCTIONS_PATH = '/2015-03-31/functions';

/**
 * The REST routes of `GetFunctionConfiguration` (`GET .../functions/<name>/configuration`) and `GetFunction`
 * (`GET .../functions/<name>`), with an optional `Qualifier`, answered from the functions.
 * @example const routes = [mappingRoute(mappings), functionRoute(functions)];
 */
export function functionRoute(functions: LocalFunctions): LambdaRoute {
  return ({ method, path, url }) => {
    if (!path.startsWith(`${FUNCTIONS_PATH}/`) || method !== 'GET') return undefined;
    const rest = path.slice(FUNCTIONS_PATH.length + 1);
    const qualifier = url.searchParams.get('Qualifier') ?? undefined;
    const configuration = rest.match(/^([^/]+)\/configuration$/);
    if (configuration?.[1] !== undefined) {
      return { status: 200, body: functions.configuration(decodeURIComponent(configuration[1]), qualifier) };
    }
    if (!rest.includes('/')) return { status: 200, body: functions.get(decodeURIComponent(rest), qualifier) };
    return undefined;
  };
}
