// @ts-check
/** Economics: tokens and dollars per day by stage and model, spend against the budget, cost per published item. */

import { api, errorBox } from '../api.js';
import { budgetNote, drawCharts } from '../charts.js';
import { h, num, panel, table } from '../dom.js';
import { fmtCount, fmtUsd, plural } from '../format.js';
import { navigate } from '../router.js';

/** @typedef {import('../types.js').EconomicsReport} EconomicsReport */
/** @typedef {import('../types.js').CostsReport} CostsReport */

/**
 * Draws the economics of the days asked for (the last 30 by default) and the cost table.
 * @param {import('../router.js').View} view
 * @param {RegExpExecArray} _match
 * @param {URLSearchParams} params
 */
export async function renderEconomics(view, _match, params) {
  const since = params.get('since') ?? '';
  const by = params.get('by') ?? 'stage';
  const sinceInput = h('input', { type: 'date', name: 'since', value: since, testid: 'economics-since' });
  const bySelect = h(
    'select',
    { name: 'by', testid: 'costs-by' },
    ['stage', 'model', 'day'].map((option) => h('option', { value: option, selected: option === by }, option)),
  );
  const form = h(
    'form',
    { class: 'filters' },
    h('label', { class: 'field' }, 'since (default: the last 30 days)', sinceInput),
    h('label', { class: 'field' }, 'table by', bySelect),
    h('button', { type: 'submit', class: 'button button-primary' }, 'Show'),
  );
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    if (sinceInput.value !== '') query.set('since', sinceInput.value);
    if (bySelect.value !== 'stage') query.set('by', bySelect.value);
    navigate(`/economics${query.size > 0 ? `?${query}` : ''}`);
  });
  bySelect.addEventListener('change', () => form.requestSubmit());
  view.show(
    h('div', { class: 'page-head' }, h('h1', {}, 'Economics')),
    panel(null, form),
    h('p', { class: 'muted' }, 'Loading…'),
  );

  const sinceQuery = since === '' ? '' : `since=${encodeURIComponent(since)}`;
  const [economics, costs] = await Promise.allSettled([
    api(`/api/economics${sinceQuery ? `?${sinceQuery}` : ''}`).then(
      (answer) => /** @type {EconomicsReport} */ (answer),
    ),
    api(`/api/costs?${sinceQuery ? `${sinceQuery}&` : ''}by=${encodeURIComponent(by)}`).then(
      (answer) => /** @type {CostsReport} */ (answer),
    ),
  ]);
  if (!view.alive()) return;
  /** @type {import('chart.js').Chart[]} */
  const charts = [];
  view.onLeave(() => {
    for (const chart of charts) chart.destroy();
  });
  /** @type {Node[]} */
  const sections = [h('div', { class: 'page-head' }, h('h1', {}, 'Economics')), panel(null, form)];
  if (economics.status === 'fulfilled') sections.push(...economicsSections(economics.value));
  else sections.push(errorBox(economics.reason, 'The economics could not be read.'));
  if (costs.status === 'fulfilled') sections.push(costsPanel(costs.value));
  else sections.push(errorBox(costs.reason, 'The cost table could not be read.'));
  view.show(sections);
  if (economics.status === 'fulfilled') drawCharts(economics.value, charts);
}

/** @param {EconomicsReport} economics @returns {Node[]} */
function economicsSections(economics) {
  // The server sums the cost in nano-dollars, exactly; summing the rounded points here could drift.
  const totalCost = economics.costUsd ?? economics.series.reduce((total, row) => total + row.costUsd, 0);
  const totalTokens = economics.series.reduce((total, row) => total + row.promptTokens + row.completionTokens, 0);
  const totalCalls = economics.series.reduce((total, row) => total + row.calls, 0);
  const period = economics.days.length > 0 ? `${economics.days[0]} to ${economics.days.at(-1)} (UTC)` : 'no days';
  /**
   * @param {string} label
   * @param {number | null} value
   * @param {string} text
   * @param {string} testid
   * @param {string} [note]
   */
  const card = (label, value, text, testid, note) =>
    h(
      'div',
      { class: 'card' },
      h('div', { class: 'card-label' }, label),
      h('div', { class: 'card-value', testid, 'data-value': value ?? '' }, text),
      note ? h('div', { class: 'card-note' }, note) : null,
    );
  /** @param {string} title @param {string} testid @param {string} [note] */
  const chartPanel = (title, testid, note) =>
    panel(
      title,
      note ? h('p', { class: 'muted small', testid: `${testid}-note` }, note) : null,
      h('div', { class: 'chart-box' }, h('canvas', { testid, role: 'img', 'aria-label': title })),
    );
  return [
    h('p', { class: 'muted', testid: 'economics-period' }, period),
    h(
      'div',
      { class: 'cards' },
      card('spend', totalCost, fmtUsd(totalCost), 'economics-cost', `${plural(totalCalls, 'call')}`),
      card('tokens', totalTokens, fmtCount(totalTokens), 'economics-tokens'),
      card('published items', economics.publishedItems, fmtCount(economics.publishedItems), 'published-items'),
      card(
        'cost per published item',
        economics.costPerPublishedItemUsd,
        economics.costPerPublishedItemUsd === null ? '—' : fmtUsd(economics.costPerPublishedItemUsd),
        'cost-per-published',
      ),
      card(
        're-billed calls',
        economics.rebilledCalls,
        fmtCount(economics.rebilledCalls),
        'rebilled-calls',
        'paid again after a crash',
      ),
    ),
    h(
      'div',
      { class: 'grid grid-2' },
      chartPanel('Tokens per day by stage', 'chart-tokens'),
      chartPanel('Dollars per day by model', 'chart-cost'),
    ),
    h(
      'div',
      { class: 'grid grid-2' },
      chartPanel('Spend against the daily budget', 'chart-budget', budgetNote(economics)),
      chartPanel('Re-billed calls per day by stage', 'chart-rebilled'),
    ),
  ];
}

/** @param {CostsReport} report */
function costsPanel(report) {
  const columns = [
    { label: report.by },
    { label: 'calls', num: true },
    { label: 'prompt tokens', num: true },
    { label: 'completion tokens', num: true },
    { label: 'tokens', num: true },
    { label: 'cost', num: true },
    { label: '$/call', num: true },
    { label: 'tokens/call', num: true },
    { label: 're-billed', num: true },
  ];
  /** @param {import('../types.js').CostRow} row */
  const cells = (row) => [
    num(row.calls, undefined, 'cost-calls'),
    num(row.promptTokens, undefined, 'cost-prompt'),
    num(row.completionTokens, undefined, 'cost-completion'),
    num(row.tokens, undefined, 'cost-tokens'),
    num(row.costUsd, fmtUsd(row.costUsd), 'cost-usd'),
    num(row.usdPerCall, `$${row.usdPerCall.toFixed(6)}`, 'cost-per-call'),
    num(row.tokensPerCall, undefined, 'cost-tokens-per-call'),
    num(row.rebilledCalls, undefined, 'cost-rebilled'),
  ];
  return panel(
    `LLM usage ${report.since} to ${report.until} (UTC), by ${report.by}`,
    report.rows.length === 0
      ? h('p', { class: 'muted', testid: 'costs-empty' }, 'No LLM call in this period.')
      : table(
          columns,
          report.rows.map((row) => ({
            cells: [h('td', { class: 'mono' }, row.key), ...cells(row)],
            props: { testid: 'cost-row', 'data-key': row.key },
          })),
          {
            testid: 'costs',
            footer: { cells: ['total', ...cells(report.totals)], props: { class: 'total', testid: 'cost-total' } },
          },
        ),
  );
}
