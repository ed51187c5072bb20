// @ts-check
/** The API client: every failure becomes an ApiError with the server's message. */

import { h } from './dom.js';

/**
 * A request the server refused or could not be sent: the HTTP status (0 when unreachable), its message and body.
 * @example throw new ApiError(404, 'no page at /settings');
 */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   * @param {unknown} [body] The answer's JSON, e.g. `{ error, parameter, allowed }`.
   */
  constructor(status, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

/**
 * Calls the console's API and resolves with the answer's JSON, unchecked: the caller names its type.
 * @param {string} path
 * @param {{ method?: 'GET' | 'POST', body?: unknown }} [options]
 * @returns {Promise<unknown>}
 * @throws {ApiError} with the server's message for any answer but 2xx, or status 0 when it cannot be reached.
 * @example const list = await api('/api/items?state=DEAD_LETTER'); // unknown until the caller casts it
 */
export async function api(path, { method = 'GET', body } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers:
        body === undefined
          ? { accept: 'application/json' }
          : { accept: 'application/json', 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(
      0,
      `cannot reach the console server (${error instanceof Error ? error.message : error}); is 'sluice console' still running?`,
    );
  }
  const text = await response.text();
  /** @type {unknown} */
  let parsed;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const error = fieldOf(parsed, 'error');
    const message = typeof error === 'string' ? error : `${response.statusText || 'request failed'}`;
    throw new ApiError(response.status, message, parsed);
  }
  if (parsed === undefined) throw new ApiError(response.status, `${method} ${path} answered without JSON`);
  return parsed;
}

/**
 * A field of a JSON answer that may not be an object.
 * @param {unknown} value
 * @param {string} name
 * @returns {unknown}
 */
function fieldOf(value, name) {
  return typeof value === 'object' && value !== null ? Reflect.get(value, name) : undefined;
}

/**
 * The error as a box in the page: the HTTP status, the server's message and what it says is allowed.
 * @param {unknown} error
 * @param {string} [context] What failed, above the message.
 * @returns {HTMLDivElement}
 * @example results.replaceChildren(errorBox(error, 'The items could not be listed.'));
 */
export function errorBox(error, context) {
  const status = error instanceof ApiError && error.status > 0 ? `HTTP ${error.status}` : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  const body = error instanceof ApiError ? error.body : undefined;
  const allowedField = fieldOf(body, 'allowed');
  const parameter = fieldOf(body, 'parameter');
  const allowed = Array.isArray(allowedField)
    ? allowedField.join(', ')
    : typeof allowedField === 'string'
      ? allowedField
      : undefined;
  return h(
    'div',
    {
      class: 'error-box',
      role: 'alert',
      testid: 'error',
      'data-status': error instanceof ApiError ? error.status : '',
    },
    context ? h('div', { class: 'small' }, context) : null,
    h('strong', { testid: 'error-status' }, status),
    h('span', { testid: 'error-message' }, message),
    typeof parameter === 'string' ? h('div', { class: 'small' }, `parameter: ${parameter}`) : null,
    allowed && !message.includes(allowed) ? h('div', { class: 'small' }, `allowed: ${allowed}`) : null,
  );
}
