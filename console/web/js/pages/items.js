// @ts-check
/** Items: a filterable list, newest first. */

import { api, errorBox } from '../api.js';
import { badge, h, itemPath, link, num, panel, stateBadge, table } from '../dom.js';
import { fmtCount, fmtTime, plural } from '../format.js';
import { pipeline } from '../pipeline.js';
import { navigate } from '../router.js';

const ITEM_FILTERS = ['state', 'stage', 'degraded', 'errorClass', 'since', 'until', 'q', 'limit'];

/**
 * Draws the filters from the address and the items that match them.
 * @param {import('../router.js').View} view
 * @param {RegExpExecArray} _match
 * @param {URLSearchParams} params
 */
export async function renderItems(view, _match, params) {
  /** @param {string} name */
  const value = (name) => params.get(name) ?? '';
  /** @param {string} name @param {string} label @param {readonly (readonly [string, string])[]} options */
  const select = (name, label, options) =>
    h(
      'label',
      { class: 'field' },
      label,
      h(
        'select',
        { name, testid: `filter-${name}` },
        options.map(([optionValue, text]) =>
          h('option', { value: optionValue, selected: optionValue === value(name) }, text),
        ),
      ),
    );
  /** @param {string} name @param {string} label @param {string} type @param {Readonly<Record<string, unknown>>} [extra] */
  const input = (name, label, type, extra = {}) =>
    h(
      'label',
      { class: 'field' },
      label,
      h('input', { name, type, value: value(name), testid: `filter-${name}`, ...extra }),
    );
  const form = h(
    'form',
    { class: 'filters', testid: 'items-filters', role: 'search' },
    input('q', 'item id contains', 'search', { placeholder: 'e.g. sample-00' }),
    select('state', 'state', [['', 'any state'], ...pipeline().itemStates.map(sameValueAndText)]),
    select('stage', 'stage', [['', 'any stage'], ...pipeline().stages.map(sameValueAndText)]),
    select('degraded', 'degraded', [
      ['', 'either'],
      ['true', 'degraded'],
      ['false', 'not degraded'],
    ]),
    input('errorClass', 'error class', 'text', { placeholder: 'e.g. LlmCallError', size: 16 }),
    input('since', 'updated since', 'date'),
    input('until', 'until', 'date'),
    input('limit', 'limit', 'number', { min: 1, max: 1000, placeholder: '200', size: 5 }),
    h('button', { type: 'submit', class: 'button button-primary', testid: 'filter-apply' }, 'Filter'),
    h('a', { href: '/items', class: 'button', testid: 'filter-reset' }, 'Reset'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const [name, entry] of new FormData(form))
      if (typeof entry === 'string' && entry.trim() !== '') query.set(name, entry.trim());
    navigate(`/items${query.size > 0 ? `?${query}` : ''}`);
  });
  const results = h('div', { testid: 'items-results' }, h('p', { class: 'muted' }, 'Loading…'));
  view.show(h('div', { class: 'page-head' }, h('h1', {}, 'Items')), panel(null, form), results);

  const query = new URLSearchParams();
  for (const name of ITEM_FILTERS) if (value(name) !== '') query.set(name, value(name));
  try {
    const list = /** @type {import('../types.js').ItemList} */ (
      await api(`/api/items${query.size > 0 ? `?${query}` : ''}`)
    );
    if (!view.alive()) return;
    results.replaceChildren(itemsTable(list));
  } catch (error) {
    if (view.alive()) results.replaceChildren(errorBox(error, 'The items could not be listed.'));
  }
}

/**
 * An option whose text is its value.
 * @param {string} value
 * @returns {[string, string]}
 */
function sameValueAndText(value) {
  return [value, value];
}

/** @param {import('../types.js').ItemList} list */
function itemsTable(list) {
  const summary = h(
    'p',
    { class: 'muted', testid: 'items-total', 'data-total': list.total, 'data-shown': list.items.length },
    list.truncated
      ? `Showing the newest ${fmtCount(list.items.length)} of ${plural(list.total, 'matching item')}; narrow the filters or raise the limit to see more.`
      : `${plural(list.total, 'matching item')}, newest first.`,
  );
  if (list.items.length === 0)
    return panel(null, summary, h('p', { testid: 'items-empty' }, 'No item matches these filters.'));
  return panel(
    null,
    summary,
    table(
      [
        { label: 'item' },
        { label: 'state' },
        { label: 'stage' },
        { label: 'degraded' },
        { label: 'error class' },
        { label: 'attempts', num: true },
        { label: 'updated' },
        { label: 'title' },
      ],
      list.items.map((item) => ({
        cells: [
          h('td', { class: 'mono nowrap' }, link(itemPath(item.itemId), item.itemId, { testid: 'item-link' })),
          h('td', {}, stateBadge(item.state)),
          item.stage ?? '—',
          item.degraded ? h('td', {}, badge('degraded', 'degraded')) : h('td', { class: 'muted' }, 'no'),
          item.errorClass ?? '',
          num(item.attempts ?? null, item.attempts === undefined ? '' : fmtCount(item.attempts)),
          h('td', { class: 'nowrap' }, fmtTime(item.updatedAt)),
          h('td', { class: 'title-cell', title: item.title ?? '' }, item.title ?? ''),
        ],
        props: { testid: 'item-row', 'data-item-id': item.itemId, 'data-state': item.state },
      })),
      { testid: 'items-table' },
    ),
  );
}
