import type { IncomingMessage } from 'node:http';

/** Largest request body the local AWS APIs accept, as the real ones do. */
export const MAX_BODY_BYTES = 256 * 1024;

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
