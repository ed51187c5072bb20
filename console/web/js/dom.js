// @ts-check
/**
 * The DOM kit: elements are built node by node, and data from the API only ever becomes text (textContent or a
 * text node, never parsed as HTML).
 */

import { fmtCount } from './format.js';

export function requireElement(id) {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element;
}

/**
 * Builds an element. `props`: `class`, `testid` (data-testid), `text` (textContent), `on<event>` handlers,
 * anything else an attribute (skipped when null, undefined or false). Children: nodes, or text for anything else.
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') element.className = value;
    else if (key === 'testid') element.dataset.testid = value;
    else if (key === 'text') element.textContent = String(value);
    else if (key.startsWith('on') && typeof value === 'function') element.addEventListener(key.slice(2), value);
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

export function append(parent, children) {
  for (const child of children.flat(Number.POSITIVE_INFINITY)) {
    if (child === undefined || child === null || child === false) continue;
    parent.append(child instanceof Node ? child : String(child));
  }
}

/** A table: `columns` = [{ label, num? }], rows = arrays of cells (nodes or text) or `{ cells, props }`. */
export function table(columns, rows, { testid, footer, className } = {}) {
  const head = h(
    'tr',
    {},
    ...columns.map((column) => h('th', { class: column.num ? 'num' : undefined }, column.label)),
  );
  const row = (entry) => {
    const { cells, props } = Array.isArray(entry) ? { cells: entry, props: {} } : entry;
    return h(
      'tr',
      props,
      cells.map((cell, index) =>
        cell instanceof HTMLTableCellElement ? cell : h('td', { class: columns[index]?.num ? 'num' : undefined }, cell),
      ),
    );
  };
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { testid, class: className },
      h('thead', {}, head),
      h('tbody', {}, rows.map(row)),
      footer ? h('tfoot', {}, row(footer)) : null,
    ),
  );
}

/** A numeric cell: the formatted text, the raw value in data-value. */
export function num(value, text, testid) {
  return h('td', { class: 'num', testid, 'data-value': value ?? '' }, text ?? (value === null ? '—' : fmtCount(value)));
}

export function badge(text, tone) {
  return h('span', { class: `badge ${tone ?? ''}`.trim() }, text);
}

export function stateBadge(state) {
  return h('span', { class: `badge state-${state}`, testid: 'state-badge' }, state);
}

export function link(path, text, props = {}) {
  return h('a', { href: path, ...props }, text);
}

export function itemPath(itemId) {
  return `/items/${encodeURIComponent(itemId)}`;
}

export function panel(title, ...children) {
  return h('section', { class: 'panel' }, title ? h('h2', {}, title) : null, ...children);
}

export function details(summary, content, { open = false, testid } = {}) {
  return h('details', { open, testid }, h('summary', {}, summary), content);
}

export function jsonBlock(value, testid) {
  return h('pre', { class: 'mono', testid }, JSON.stringify(value, null, 2));
}
