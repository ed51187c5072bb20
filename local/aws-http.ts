import type { IncomingMessage, ServerResponse } from 'node:http';

/** Request and response bodies of the local AWS APIs (the Lambda control API, Secrets Manager): JSON both ways. */

/** Largest request body the local AWS APIs accept, as the real ones do. */
const MAX_BODY_BYTES = 256 * 1024;

/**
 * Reads a request's JSON body for the local AWS APIs (an empty body is `{}`), with each API's own errors for a
 * body too large or not JSON.
 * @example const body = await readJsonBody(request, { tooLarge: () => new ApiError(...), notJson: (why) => new ApiError(...) });
 */
export async function readJsonBody(
  request: IncomingMessage,
  errors: { tooLarge: () => Error; notJson: (why: string) => Error },
): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += buffer.length;
    if (size > MAX_BODY_BYTES) throw errors.tooLarge();
    chunks.push(buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (error) {
    throw errors.notJson((error as Error).message);
  }
}

/**
 * Answers with a JSON body and the request id, as the AWS APIs do (`application/json` for Lambda's REST API,
 * `application/x-amz-json-1.1` for Secrets Manager's).
 * @example sendJson(response, 200, requestId, mapping, 'application/json');
 */
export function sendJson(
  response: ServerResponse,
  status: number,
  requestId: string,
  body: unknown,
  contentType: 'application/json' | 'application/x-amz-json-1.1',
): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(text),
    'x-amzn-RequestId': requestId,
  });
  response.end(text);
}
