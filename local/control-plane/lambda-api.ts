import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '../aws-http.ts';
import type { LocalFunction } from '../resources.ts';

/**
 * What the Lambda REST API's parts (event source mappings, functions) share on the control server: its error,
 * how a route answers, and how a function is named.
 */

/** An error the API answers in AWS's shape: `x-amzn-ErrorType` and a JSON body with the message. */
export class LambdaApiError extends Error {
  readonly type: string;
  readonly status: number;

  constructor(type: string, status: number, message: string) {
    super(message);
    this.name = 'LambdaApiError';
    this.type = type;
    this.status = status;
  }
}

/** A Lambda REST request as a route sees it: method, path without trailing slashes, and the parsed URL. */
export interface LambdaRequest {
  readonly method: string;
  readonly path: string;
  readonly url: URL;
  readonly http: IncomingMessage;
}

/** A successful answer: its status and JSON body. */
export interface LambdaAnswer {
  readonly status: number;
  readonly body: unknown;
}

/**
 * One part of the Lambda REST API: the answer to a request it serves, or undefined for a request it does not.
 * @throws {LambdaApiError} AWS's error for a request it serves and refuses.
 * @example const route: LambdaRoute = ({ method, path }) => (method === 'GET' && path === '/x' ? { status: 200, body: {} } : undefined);
 */
export type LambdaRoute = (request: LambdaRequest) => LambdaAnswer | undefined | Promise<LambdaAnswer | undefined>;

/**
 * Answers one HTTP request of the Lambda REST API from the first route that serves it; until the routes are given
 * (the runtime is starting) every request gets a 503, and a request no route serves gets AWS's
 * `UnknownOperationException`.
 * @example void answerLambda([mappingRoute(mappings)], request, response);
 */
export async function answerLambda(
  routes: readonly LambdaRoute[] | undefined,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const requestId = randomUUID();
  try {
    if (routes === undefined) {
      throw new LambdaApiError('ServiceException', 503, 'The local runtime is still starting');
    }
    const url = new URL(request.url ?? '/', 'http://localhost');
    const lambdaRequest: LambdaRequest = {
      method: request.method ?? 'GET',
      path: url.pathname.replace(/\/+$/, ''),
      url,
      http: request,
    };
    for (const route of routes) {
      const answer = await route(lambdaRequest);
      if (answer !== undefined) return sendJson(response, answer.status, requestId, answer.body, 'application/json');
    }
    const { method, path } = lambdaRequest;
    throw new LambdaApiError(
      'UnknownOperationException',
      404,
      `${method} ${path} is not served locally: the local Lambda control API has GetEventSourceMapping, UpdateEventSourceMapping, ListEventSourceMappings, GetFunctionConfiguration and GetFunction`,
    );
  } catch (error) {
    sendLambdaError(response, requestId, error);
  }
}

function sendLambdaError(response: ServerResponse, requestId: string, error: unknown): void {
  const apiError =
    error instanceof LambdaApiError
      ? error
      : new LambdaApiError('ServiceException', 500, `The local Lambda control API failed: ${String(error)}`);
  response.setHeader('x-amzn-ErrorType', apiError.type);
  // Lambda's model spells the member `message` on some errors and `Message` on others: both are sent.
  sendJson(
    response,
    apiError.status,
    requestId,
    { Type: 'User', Message: apiError.message, message: apiError.message },
    'application/json',
  );
}

/** Whether a FunctionName parameter (name, ARN, or partial ARN) names the function. */
export function namesFunction(name: string, fn: LocalFunction): boolean {
  return name === fn.functionName || name === fn.functionArn || fn.functionArn.endsWith(`:function:${name}`);
}
