// @ts-check
/**
 * The sluice console: a single page over the console's JSON API (/api/*), routed on the client with
 * history.pushState. Every string from the API reaches the page as text (textContent or a text node, never
 * parsed as HTML), and every API error is shown where the data would have been.
 */

import { errorBox } from './api.js';
import { h, requireElement } from './dom.js';
import { renderBoard } from './pages/board.js';
import { renderDeadLetters } from './pages/dead-letters.js';
import { renderEconomics } from './pages/economics.js';
import { renderItem } from './pages/item.js';
import { renderItems } from './pages/items.js';
import { loadPipeline } from './pipeline.js';
import { startRouter } from './router.js';

/** @type {readonly import('./router.js').Route[]} */
const ROUTES = [
  { pattern: /^\/(?:board)?\/?$/, nav: 'board', title: 'Board', render: renderBoard },
  { pattern: /^\/items\/?$/, nav: 'items', title: 'Items', render: renderItems },
  { pattern: /^\/items\/(.+)$/, nav: 'items', title: 'Item', render: renderItem },
  { pattern: /^\/dead-letters\/?$/, nav: 'dead-letters', title: 'Dead letters', render: renderDeadLetters },
  { pattern: /^\/economics\/?$/, nav: 'economics', title: 'Economics', render: renderEconomics },
];

try {
  await loadPipeline();
  startRouter(ROUTES);
} catch (error) {
  requireElement('main').replaceChildren(
    h('div', { class: 'page-head' }, h('h1', {}, 'sluice console')),
    errorBox(error, "The pipeline's states and stages could not be read; reload once the console answers."),
  );
}
