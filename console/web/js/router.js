// @ts-check
/**
 * Routing on the client with history.pushState: one render per navigation; a view knows when it was left, so
 * late answers and timers stop.
 */

import { ApiError, errorBox } from './api.js';
import { h, link, requireElement } from './dom.js';

/**
 * @typedef {object} View What a page draws into.
 * @property {() => boolean} alive Whether the operator is still on this page.
 * @property {(fn: () => void) => void} onLeave Runs `fn` when the operator leaves (at once if already gone).
 * @property {(...nodes: (Node | Node[])[]) => void} show Shows the nodes unless the operator has moved on.
 */

/**
 * @typedef {object} Route
 * @property {RegExp} pattern
 * @property {string} nav The nav link it lights up.
 * @property {string} title
 * @property {(view: View, match: RegExpExecArray, params: URLSearchParams) => Promise<void>} render
 */

const main = requireElement('main');

/** Counts the renders: a view is alive while the count is its own. */
let currentToken = 0;
/** @type {(() => void)[]} What the current view runs when it is left. */
let leaving = [];

/** @type {readonly Route[]} The pages, set once by startRouter. */
let routes = [];

/**
 * Goes to a page of the console, adding it to the history (or replacing the current entry).
 * @param {string} path
 * @param {{ replace?: boolean }} [options]
 * @example navigate('/items?state=DEAD_LETTER');
 */
export function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  void render();
}

async function render() {
  for (const leave of leaving) leave();
  leaving = [];
  currentToken += 1;
  const token = currentToken;
  /** @type {View} */
  const view = {
    alive: () => token === currentToken,
    onLeave(fn) {
      if (token === currentToken) leaving.push(fn);
      else fn();
    },
    /** Shows the nodes unless the operator has moved on. */
    show(...nodes) {
      if (token === currentToken) main.replaceChildren(...nodes.flat());
    },
  };
  const url = new URL(location.href);
  const route = routes.find((candidate) => candidate.pattern.test(url.pathname));
  for (const anchor of document.querySelectorAll('[data-nav]')) {
    if (anchor.getAttribute('data-nav') === route?.nav) anchor.setAttribute('aria-current', 'page');
    else anchor.removeAttribute('aria-current');
  }
  main.dataset.page = route?.nav ?? 'none';
  main.setAttribute('aria-busy', 'true');
  if (route === undefined) {
    document.title = 'Not found · sluice console';
    view.show(
      h('div', { class: 'page-head' }, h('h1', {}, 'Not found')),
      errorBox(new ApiError(404, `no page at ${url.pathname}`)),
      h('p', {}, link('/board', 'Go to the board')),
    );
    main.removeAttribute('aria-busy');
    return;
  }
  document.title = `${route.title} · sluice console`;
  view.show(h('p', { class: 'muted' }, 'Loading…'));
  try {
    // The route was found by this pattern, so it matches.
    const match = /** @type {RegExpExecArray} */ (route.pattern.exec(url.pathname));
    await route.render(view, match, url.searchParams);
  } catch (error) {
    view.show(h('div', { class: 'page-head' }, h('h1', {}, route.title)), errorBox(error));
  } finally {
    if (view.alive()) main.removeAttribute('aria-busy');
  }
}

/**
 * Draws the page for the address, and from then on for every link followed inside the console and every step
 * back or forward in the history.
 * @param {readonly Route[]} pages
 * @example startRouter([{ pattern: /^\/board$/, nav: 'board', title: 'Board', render: renderBoard }]);
 */
export function startRouter(pages) {
  routes = pages;
  document.addEventListener('click', followLink);
  window.addEventListener('popstate', () => void render());
  void render();
}

/** A plain click on a link inside the console: drawn here, not loaded again. @param {MouseEvent} event */
function followLink(event) {
  if (
    event.defaultPrevented ||
    event.button !== 0 ||
    event.metaKey ||
    event.ctrlKey ||
    event.shiftKey ||
    event.altKey
  ) {
    return;
  }
  const anchor = event.target instanceof Element ? event.target.closest('a[href]') : null;
  if (!(anchor instanceof HTMLAnchorElement)) return;
  if (anchor.hasAttribute('target') || anchor.hasAttribute('download')) return;
  const url = new URL(anchor.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.pathname.startsWith('/assets/')) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
}
