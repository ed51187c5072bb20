// @ts-check
/** The API client: every failure becomes an ApiError with the server's message. */

import { h } from './dom.js';

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

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
  let parsed;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!response.ok) {
    const message = typeof parsed?.error === 'string' ? parsed.error : `${response.statusText || 'request failed'}`;
    throw new ApiError(response.status, message, parsed);
  }
  if (parsed === undefined) throw new ApiError(response.status, `${method} ${path} answered without JSON`);
  return parsed;
}

/** The error as a box in the page: the HTTP status, the server's message and what it says is allowed. */
export function errorBox(error, context) {
  const status = error instanceof ApiError && error.status > 0 ? `HTTP ${error.status}` : 'Error';
  const message = error instanceof Error ? error.message : String(error);
  const extra = error instanceof ApiError && error.body && typeof error.body === 'object' ? error.body : {};
  const allowed = Array.isArray(extra.allowed)
    ? extra.allowed.join(', ')
    : typeof extra.allowed === 'string'
      ? extra.allowed
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
    typeof extra.parameter === 'string' ? h('div', { class: 'small' }, `parameter: ${extra.parameter}`) : null,
    allowed && !message.includes(allowed) ? h('div', { class: 'small' }, `allowed: ${allowed}`) : null,
  );
}
