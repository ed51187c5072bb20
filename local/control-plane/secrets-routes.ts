import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readJsonBody, sendJson } from '../aws-http.ts';
import { SECRETS_MANAGER_TARGET_PREFIX, SecretsManagerApiError } from './secret-requests.ts';
import type { LocalSecretsManager } from './secrets-manager.ts';

/** The HTTP side of the local Secrets Manager: which requests are its, and their answers in awsJson1.1. */

/**
 * Whether a request to the control server is a Secrets Manager call (`X-Amz-Target: secretsmanager.<Action>`).
 * @example if (isSecretsManagerRequest(request)) return answerSecretsManager(secrets, request, response);
 */
export function isSecretsManagerRequest(request: IncomingMessage): boolean {
  const target = request.headers['x-amz-target'];
  return typeof target === 'string' && target.startsWith(SECRETS_MANAGER_TARGET_PREFIX);
}

/**
 * Answers one HTTP request of the Secrets Manager JSON API from the store, errors included.
 * @example if (isSecretsManagerRequest(request)) return answerSecretsManager(secrets, request, response);
 */
export async function answerSecretsManager(
  secrets: LocalSecretsManager,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const requestId = randomUUID();
  try {
    if (request.method !== 'POST') {
      throw new SecretsManagerApiError('InvalidRequestException', 'Secrets Manager requests are POSTs to /');
    }
    const action = String(request.headers['x-amz-target']).slice(SECRETS_MANAGER_TARGET_PREFIX.length);
    const body = await readJsonBody(request, {
      tooLarge: () => new SecretsManagerApiError('InvalidRequestException', 'The request body is larger than 256 KB'),
      notJson: (why) =>
        new SecretsManagerApiError('SerializationException', `Could not parse the request body: ${why}`),
    });
    sendJson(response, 200, requestId, await secrets.call(action, body), 'application/x-amz-json-1.1');
  } catch (error) {
    const apiError =
      error instanceof SecretsManagerApiError
        ? error
        : new SecretsManagerApiError(
            'InternalServiceError',
            `The local Secrets Manager failed: ${error instanceof Error ? error.message : String(error)}`,
            500,
          );
    response.setHeader('x-amzn-ErrorType', apiError.type);
    sendJson(
      response,
      apiError.status,
      requestId,
      { __type: apiError.type, message: apiError.message },
      'application/x-amz-json-1.1',
    );
  }
}
