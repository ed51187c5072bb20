import { createServer } from 'node:http';
import { DEFAULT_LOCAL_REGION, LOCAL_ACCOUNT_ID } from '../emulators.ts';
import type { LocalEventSourceMappings } from './event-source-mappings.ts';
import { functionRoute } from './function-routes.ts';
import { LocalFunctions } from './functions.ts';
import { answerLambda, type LambdaRoute } from './lambda-api.ts';
import { mappingRoute } from './mapping-routes.ts';
import { LocalSecretsManager } from './secrets-manager.ts';
import { answerSecretsManager, isSecretsManagerRequest } from './secrets-routes.ts';

/**
 * The local runtime's control API, served on loopback: the event-source-mapping and function parts of the AWS
 * Lambda REST API (event-source-mappings.ts, functions.ts) for `@aws-sdk/client-lambda`, and the Secrets Manager
 * JSON API (secrets-manager.ts) for `@aws-sdk/client-secrets-manager`, on one endpoint.
 */

const LOOPBACK = '127.0.0.1';

/** The Lambda control API's HTTP server. */
export interface LambdaControlServer {
  /** e.g. `http://127.0.0.1:40125`: the `endpoint` of a `LambdaClient`. */
  readonly endpoint: string;
  /** The secrets the Secrets Manager API serves, from the start (they do not wait for `serve`). */
  readonly secrets: LocalSecretsManager;
  /**
   * Starts answering the Lambda API with these mappings and functions; until then every Lambda request gets a
   * 503.
   */
  serve(mappings: LocalEventSourceMappings, functions?: LocalFunctions): void;
  stop(): Promise<void>;
}

/** Where the server listens and the secrets it serves. */
export interface LambdaControlServerOptions {
  /** @default any free port */
  readonly port?: number | undefined;
  /** @default an empty in-memory store */
  readonly secrets?: LocalSecretsManager | undefined;
}

/**
 * Listens on loopback for the Lambda REST API's event-source-mapping and function operations, and for the Secrets
 * Manager JSON API.
 * @example
 * const server = await startLambdaControlServer({ secrets });
 * server.serve(mappings, functions);
 * const lambda = new LambdaClient({ endpoint: server.endpoint, region, credentials });
 * await lambda.send(new UpdateEventSourceMappingCommand({ UUID: uuid, Enabled: false }));
 * const secretsManager = new SecretsManagerClient({ endpoint: server.endpoint, region, credentials });
 */
export async function startLambdaControlServer(options: LambdaControlServerOptions = {}): Promise<LambdaControlServer> {
  const secrets =
    options.secrets ?? (await LocalSecretsManager.open({ region: DEFAULT_LOCAL_REGION, accountId: LOCAL_ACCOUNT_ID }));
  let lambdaRoutes: readonly LambdaRoute[] | undefined;
  // Secrets Manager speaks awsJson (its action in X-Amz-Target); everything else is Lambda's REST API.
  const server = createServer((request, response) => {
    if (isSecretsManagerRequest(request)) void answerSecretsManager(secrets, request, response);
    else void answerLambda(lambdaRoutes, request, response);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, LOOPBACK, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') {
    server.close();
    throw new Error('the Lambda control server did not report a TCP address');
  }
  return {
    endpoint: `http://${LOOPBACK}:${address.port}`,
    secrets,
    serve(mappings, functions = new LocalFunctions([])) {
      lambdaRoutes = [functionRoute(functions), mappingRoute(mappings)];
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive sockets of SDK clients would otherwise hold the close open.
        server.closeAllConnections();
      }),
  };
}
