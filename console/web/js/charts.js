// @ts-check
/** The economics page's charts, drawn with Chart.js (its UMD build, loaded by the page as a classic script). */

import { errorBox } from './api.js';
import { requireElement } from './dom.js';
import { fmtCount, fmtPercent, fmtUsd } from './format.js';

const SERIES_COLOURS = ['#2457c5', '#d97706', '#0f9d8a', '#9333ea', '#dc2626', '#64748b', '#65a30d', '#db2777'];

/** @typedef {import('./types.js').EconomicsReport} EconomicsReport */
/** @typedef {import('chart.js').Chart} Chart */
/** @typedef {import('chart.js').ChartDataset<'bar' | 'line', (number | null)[]>} Dataset */

/**
 * Draws the economics page's four charts into its canvases, or says where Chart.js did not load.
 * @param {EconomicsReport} economics
 * @param {Chart[]} charts Receives the charts drawn, to destroy when the page is left.
 */
export function drawCharts(economics, charts) {
  const main = requireElement('main');
  // The UMD build sets a global: the page loads it as a classic script, beside the modules.
  const ChartClass = /** @type {typeof import('chart.js').Chart | undefined} */ (Reflect.get(globalThis, 'Chart'));
  const canvases = ['chart-tokens', 'chart-cost', 'chart-budget', 'chart-rebilled'].map((testid) => {
    const canvas = main.querySelector(`[data-testid="${testid}"]`);
    return canvas instanceof HTMLCanvasElement ? canvas : null;
  });
  if (typeof ChartClass !== 'function') {
    for (const canvas of canvases)
      canvas?.replaceWith(errorBox(new Error('Chart.js did not load (/assets/chart.umd.min.js).')));
    return;
  }
  const [tokensCanvas, costCanvas, budgetCanvas, rebilledCanvas] = canvases;
  const days = economics.days;
  /**
   * One dataset per stage or model, of a figure summed per day.
   * @param {'stage' | 'model'} key
   * @param {(row: import('./types.js').EconomicsPoint) => number} pick
   * @returns {Dataset[]}
   */
  const perDay = (key, pick) => {
    const names = [...new Set(economics.series.map((row) => row[key]))].sort();
    return names.map((name, index) => ({
      label: name,
      backgroundColor: SERIES_COLOURS[index % SERIES_COLOURS.length] ?? '#64748b',
      data: days.map((day) =>
        economics.series
          .filter((row) => row.day === day && row[key] === name)
          .reduce((total, row) => total + pick(row), 0),
      ),
    }));
  };
  // Thirty dates do not fit across a chart: MM-DD, and Chart.js skips some when they crowd.
  /** @type {import('chart.js').ScaleOptions<'category'>} */
  const dayAxis = {
    stacked: true,
    ticks: { maxRotation: 0, autoSkip: true, callback: (_value, index) => days[index]?.slice(5) ?? '' },
  };
  /** @type {import('chart.js').LegendOptions<'bar'>} */
  const legend = /** @type {import('chart.js').LegendOptions<'bar'>} */ ({
    position: 'bottom',
    labels: { usePointStyle: true },
  });
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {Dataset[]} datasets
   * @param {(value: number) => string} format
   */
  const stackedBars = (canvas, datasets, format) =>
    new ChartClass(canvas, {
      type: 'bar',
      data: { labels: days, datasets: datasets.map((dataset) => ({ ...dataset, pointStyle: 'rect' })) },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: dayAxis,
          // Counts are whole numbers: no 0.5 calls on the axis.
          y: {
            stacked: true,
            beginAtZero: true,
            ticks: { precision: format === fmtCount ? 0 : undefined, callback: (value) => format(Number(value)) },
          },
        },
        plugins: {
          legend,
          tooltip: {
            callbacks: { label: (context) => `${context.dataset.label}: ${format(context.parsed.y ?? 0)}` },
          },
        },
      },
    });
  /** @param {number} value */
  const usd = (value) => `$${value < 0.01 && value > 0 ? value.toFixed(6) : value.toFixed(4)}`;
  if (tokensCanvas) {
    charts.push(
      stackedBars(
        tokensCanvas,
        perDay('stage', (row) => row.promptTokens + row.completionTokens),
        fmtCount,
      ),
    );
  }
  if (costCanvas)
    charts.push(
      stackedBars(
        costCanvas,
        perDay('model', (row) => row.costUsd),
        usd,
      ),
    );
  if (rebilledCanvas)
    charts.push(
      stackedBars(
        rebilledCanvas,
        perDay('stage', (row) => row.rebilledCalls),
        fmtCount,
      ),
    );
  if (budgetCanvas) {
    /** @param {string} day */
    const budgetOf = (day) => economics.budget.find((row) => row.day === day);
    const spent = days.map((day) => budgetOf(day)?.spentUsd ?? 0);
    const reserved = days.map((day) =>
      Math.max(0, (budgetOf(day)?.committedUsd ?? 0) - (budgetOf(day)?.spentUsd ?? 0)),
    );
    /** @type {Dataset[]} */
    const datasets = [
      { label: 'spent', data: spent, backgroundColor: '#2457c5', pointStyle: 'rect', order: 1 },
      { label: 'reserved', data: reserved, backgroundColor: '#9db8f0', pointStyle: 'rect', order: 1 },
    ];
    // A limit far above the spend would flatten the bars to nothing: then the note above the chart gives it.
    if (budgetScale(economics).limitOnChart) {
      datasets.unshift({
        type: 'line',
        label: 'daily limit',
        data: days.map((day) => budgetOf(day)?.limitUsd ?? null),
        borderColor: '#b42318',
        backgroundColor: '#b42318',
        pointRadius: 0,
        pointStyle: 'line',
        borderDash: [6, 4],
        order: 0,
      });
    }
    charts.push(
      new ChartClass(budgetCanvas, {
        type: 'bar',
        data: { labels: days, datasets },
        options: {
          animation: false,
          responsive: true,
          maintainAspectRatio: false,
          scales: {
            x: dayAxis,
            y: { stacked: true, beginAtZero: true, ticks: { callback: (value) => usd(Number(value)) } },
          },
          plugins: {
            legend,
            tooltip: { callbacks: { label: (context) => `${context.dataset.label}: ${usd(context.parsed.y ?? 0)}` } },
          },
        },
      }),
    );
  }
}

/** The daily limit, the busiest day's committed spend, and whether the limit line belongs on the chart. */
/** @param {EconomicsReport} economics */
function budgetScale(economics) {
  const limitUsd = economics.budget.find((row) => typeof row.limitUsd === 'number')?.limitUsd ?? null;
  const peak = economics.budget.reduce((max, row) => Math.max(max, row.committedUsd), 0);
  return { limitUsd, peak, limitOnChart: limitUsd !== null && limitUsd > 0 && peak >= limitUsd * 0.2 };
}

/**
 * What the budget chart shows, and the limit when it is too far above the bars to draw.
 * @param {EconomicsReport} economics
 * @returns {string}
 */
export function budgetNote(economics) {
  const { limitUsd, peak, limitOnChart } = budgetScale(economics);
  if (limitUsd === null)
    return 'Spent and reserved per day. The daily limit (cdk.json dailyBudgetUsd) could not be read.';
  const share = limitUsd > 0 ? ` (${fmtPercent(peak / limitUsd)} of it)` : '';
  const line = limitOnChart
    ? ' The dashed line is the limit.'
    : ' The limit is far above the bars, so it is not drawn.';
  return `Spent and reserved per day against a daily limit of ${fmtUsd(limitUsd)}; the busiest day committed ${fmtUsd(peak)}${share}.${line}`;
}
