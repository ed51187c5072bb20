// @ts-check
/**
 * The DOM kit: elements are built node by node, and data from the API only ever becomes text (textContent or a
 * text node, never parsed as HTML).
 */

import { fmtCount } from './format.js';

/**
 * What may stand as a child: a node, nothing (null, undefined, false: skipped), a list of children (flattened),
 * or anything else, written as text. Typed as unknown because a recursive JSDoc alias is not allowed.
 * @typedef {unknown} Child
 */

/** @typedef {Readonly<Record<string, unknown>>} Props An element's class, testid, text, on<event> and attributes. */

/** @typedef {{ readonly label: Child, readonly num?: boolean }} Column */

/** @typedef {readonly Child[] | { readonly cells: readonly Child[], readonly props: Props }} Row */

/**
 * The page's element of that id.
 * @template {HTMLElement} [E=HTMLElement]
 * @param {string} id
 * @param {new () => E} [kind] What it must be, e.g. HTMLButtonElement. @default HTMLElement
 * @returns {E}
 * @throws {Error} when the page has none (or it is another kind).
 * @example requireElement('confirm-dialog', HTMLDialogElement).showModal();
 */
export function requireElement(id, kind) {
  const element = document.getElementById(id);
  const expected = kind ?? HTMLElement;
  if (!(element instanceof expected)) throw new Error(`the page has no #${id} (${expected.name})`);
  return /** @type {E} */ (element);
}

/**
 * Builds an element. `props`: `class`, `testid` (data-testid), `text` (textContent), `on<event>` handlers,
 * anything else an attribute (skipped when null, undefined or false). Children: nodes, or text for anything else.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props} [props]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 * @example h('p', { class: 'muted', testid: 'note' }, 'No dead letters.')
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') element.className = String(value);
    else if (key === 'testid') element.dataset.testid = String(value);
    else if (key === 'text') element.textContent = String(value);
    else if (key.startsWith('on') && typeof value === 'function')
      element.addEventListener(key.slice(2), /** @type {EventListener} */ (value));
    else element.setAttribute(key, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

/**
 * Appends the children (lists flattened; null, undefined and false skipped).
 * @param {ParentNode} parent
 * @param {readonly Child[]} children
 */
function append(parent, children) {
  for (const child of /** @type {readonly Child[]} */ (children.flat(Number.POSITIVE_INFINITY))) {
    if (child === undefined || child === null || child === false) continue;
    parent.append(child instanceof Node ? child : String(child));
  }
}

/**
 * A table: `columns` = [{ label, num? }], rows = arrays of cells (nodes or text) or `{ cells, props }`.
 * @param {readonly Column[]} columns
 * @param {readonly Row[]} rows
 * @param {{ testid?: string, footer?: Row, className?: string }} [options]
 * @returns {HTMLDivElement}
 * @example table([{ label: 'queue' }, { label: 'visible', num: true }], [['intake', num(3)]], { testid: 'queues' })
 */
export function table(columns, rows, { testid, footer, className } = {}) {
  const head = h(
    'tr',
    {},
    ...columns.map((column) => h('th', { class: column.num ? 'num' : undefined }, column.label)),
  );
  /** @param {Row} entry */
  const row = (entry) => {
    const { cells, props } = isCellList(entry) ? { cells: entry, props: {} } : entry;
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

/**
 * @param {Row} entry
 * @returns {entry is readonly Child[]}
 */
function isCellList(entry) {
  return Array.isArray(entry);
}

/**
 * A numeric cell: the formatted text, the raw value in data-value.
 * @param {number | null | undefined} value
 * @param {string} [text] @default the value as a count, or — for null
 * @param {string} [testid]
 * @returns {HTMLTableCellElement}
 */
export function num(value, text, testid) {
  return h('td', { class: 'num', testid, 'data-value': value ?? '' }, text ?? (value === null ? '—' : fmtCount(value)));
}

/** @param {string} text @param {string} [tone] A class that colours it. */
export function badge(text, tone) {
  return h('span', { class: `badge ${tone ?? ''}`.trim() }, text);
}

/** @param {string} state An item state, coloured by its class. */
export function stateBadge(state) {
  return h('span', { class: `badge state-${state}`, testid: 'state-badge' }, state);
}

/** @param {string} path @param {string} text @param {Props} [props] */
export function link(path, text, props = {}) {
  return h('a', { href: path, ...props }, text);
}

/** The item page's path. @param {string} itemId */
export function itemPath(itemId) {
  return `/items/${encodeURIComponent(itemId)}`;
}

/** A titled section of a page. @param {string | null} title @param {...Child} children */
export function panel(title, ...children) {
  return h('section', { class: 'panel' }, title ? h('h2', {}, title) : null, ...children);
}

/**
 * A folded block.
 * @param {string} summary
 * @param {Child} content
 * @param {{ open?: boolean, testid?: string }} [options]
 */
export function details(summary, content, { open = false, testid } = {}) {
  return h('details', { open, testid }, h('summary', {}, summary), content);
}

/** A value as indented JSON. @param {unknown} value @param {string} [testid] */
export function jsonBlock(value, testid) {
  return h('pre', { class: 'mono', testid }, JSON.stringify(value, null, 2));
}
