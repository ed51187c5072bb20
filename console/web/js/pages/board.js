// @ts-check
/** Board: items per state, queues, breakers, limiters, today's spend and alarms, read again every few seconds. */

import { api, errorBox } from '../api.js';
import { badge, h, num, panel, requireElement, table } from '../dom.js';
import { clock, fmtCount, fmtDuration, fmtPercent, fmtTime, fmtUsd } from '../format.js';
import { pipeline } from '../pipeline.js';

/** How often the board reads the status again. */
const REFRESH_MS = 5000;

/** @typedef {import('../types.js').StatusSnapshot} StatusSnapshot */

/**
 * Draws the board and reads the status again every REFRESH_MS while the page is shown.
 * @param {import('../router.js').View} view
 */
export async function renderBoard(view) {
  const updated = h('span', { class: 'refresh-line', testid: 'board-updated' }, 'Reading the status…');
  const refreshButton = h('button', { type: 'button', class: 'button button-small', testid: 'refresh' }, 'Refresh now');
  const errorSlot = h('div', { testid: 'board-error' });
  const body = h('div', { testid: 'board' });
  view.show(
    h('div', { class: 'page-head' }, h('h1', {}, 'Board'), updated, h('span', { class: 'spacer' }), refreshButton),
    errorSlot,
    body,
  );

  let busy = false;
  /** @type {number | undefined} */
  let lastAt;
  const refresh = async () => {
    if (busy) return;
    busy = true;
    try {
      const status = /** @type {StatusSnapshot} */ (await api('/api/status'));
      if (!view.alive()) return;
      lastAt = Date.now();
      setTarget(status);
      body.replaceChildren(...boardSections(status));
      errorSlot.replaceChildren();
      updated.className = 'refresh-line';
      updated.dataset.at = status.at;
      updated.textContent = `Updated ${clock(lastAt)} · refreshes every ${REFRESH_MS / 1000} s`;
    } catch (error) {
      if (!view.alive()) return;
      errorSlot.replaceChildren(errorBox(error, 'The board could not be refreshed; the figures below may be stale.'));
      updated.className = 'refresh-line stale';
      updated.textContent = `${lastAt === undefined ? 'Never updated' : `Last updated ${clock(lastAt)}`} · failed at ${clock(Date.now())}`;
    } finally {
      busy = false;
    }
  };
  refreshButton.addEventListener('click', () => void refresh());
  await refresh();
  const timer = setInterval(() => {
    if (!document.hidden) void refresh();
  }, REFRESH_MS);
  view.onLeave(() => clearInterval(timer));
}

/** @param {StatusSnapshot} status */
function boardSections(status) {
  const byState = status.items?.byState ?? {};
  const cards = h(
    'div',
    { class: 'cards', testid: 'state-counts' },
    pipeline().itemStates.map((state) =>
      h(
        'a',
        { class: `card state-${state}`, href: `/items?state=${state}`, testid: `state-card-${state}` },
        h('div', { class: 'card-label' }, state),
        h(
          'div',
          { class: 'card-value', testid: `state-count-${state}`, 'data-value': byState[state] ?? 0 },
          fmtCount(byState[state] ?? 0),
        ),
      ),
    ),
    h(
      'div',
      { class: 'card state-total' },
      h('div', { class: 'card-label' }, 'total'),
      h(
        'div',
        { class: 'card-value', testid: 'state-count-total', 'data-value': status.items?.total ?? 0 },
        fmtCount(status.items?.total ?? 0),
      ),
    ),
  );
  return [
    cards,
    h('div', { class: 'grid grid-2' }, queuesPanel(status.queues ?? []), todayPanel(status.today)),
    h('div', { class: 'grid grid-2' }, breakersPanel(status.breakers ?? []), limitersPanel(status.limiters ?? [])),
    h(
      'div',
      { class: 'grid grid-2' },
      eventSourcesPanel(status.eventSources ?? [], status),
      alarmsPanel(status.alarms),
    ),
    h('div', { class: 'grid grid-2' }, usagePanel(status.today)),
  ];
}

/**
 * What the supervisor is doing for a stage: waiting for its first look (in how long, by the status's clock),
 * looking (its last action or look, and when the next is due), or not running once a look is overdue.
 */
/**
 * @param {import('../types.js').EventSourceStatus} source
 * @param {import('../types.js').SupervisorOutlook | undefined} outlook
 * @param {string | undefined} at
 * @returns {string}
 */
function supervisorText(source, outlook, at) {
  const action = source.supervisor?.lastAction;
  const lookedAt = source.supervisor?.lookedAt ?? outlook?.lastLookAt;
  const last = action
    ? `${action.action} at ${fmtTime(action.at)}: ${action.detail}`
    : lookedAt
      ? `looked at ${fmtTime(lookedAt)}, nothing to do`
      : undefined;
  const seconds = Math.ceil((Date.parse(outlook?.nextLookAt ?? '') - Date.parse(at ?? '')) / 1000);
  const next = Number.isFinite(seconds) && seconds > 0 ? `in ${seconds} s` : 'due now';
  switch (outlook?.state) {
    case 'off':
      return 'off (supervisor.enabled is false)';
    case 'waiting':
      return `first look ${next}`;
    case 'looking':
      return `${last ?? 'looking'}; next look ${next}`;
    case 'overdue':
      return outlook.lastLookAt && Date.parse(outlook.lastLookAt) >= Date.parse(outlook.since ?? '')
        ? `not running: no look since ${fmtTime(outlook.lastLookAt)}`
        : `not running: no look since the start at ${fmtTime(outlook.since)}`;
    default:
      return last ?? `no look yet${outlook?.note ? ` (${outlook.note})` : ''}`;
  }
}

/** Each stage's event source: polling or paused (and by whom, why), its maximum concurrency, the supervisor. */
/** @param {readonly import('../types.js').EventSourceStatus[]} sources @param {StatusSnapshot} status */
function eventSourcesPanel(sources, status) {
  if (sources.length === 0) {
    return panel('Event sources', h('p', { class: 'muted', testid: 'event-sources' }, 'Not known for this target.'));
  }
  return panel(
    'Event sources',
    table(
      [
        { label: 'stage' },
        { label: 'state' },
        { label: 'max concurrency', num: true },
        { label: 'last paused or resumed' },
        { label: 'supervisor' },
      ],
      sources.map((source) => {
        const tone = source.enabled === true ? 'tone-ok' : source.enabled === false ? 'tone-danger' : 'tone-warn';
        const control = source.control;
        const controlText = control
          ? `${control.paused ? 'paused' : 'resumed'} by ${control.by} at ${fmtTime(control.at)}${control.reason ? `: ${control.reason}` : ''}`
          : (source.note ?? '—');
        return {
          cells: [
            source.stage,
            h('td', {}, badge(source.state ?? 'unknown', tone)),
            num(source.maxConcurrency ?? null),
            controlText,
            h(
              'td',
              { testid: 'supervisor-state', 'data-state': status.supervisor?.state ?? 'unknown' },
              supervisorText(source, status.supervisor, status.at),
            ),
          ],
          props: { testid: 'event-source-row', 'data-stage': source.stage, 'data-state': source.state ?? 'unknown' },
        };
      }),
      { testid: 'event-sources' },
    ),
  );
}

/** @param {readonly import('../types.js').QueueStatus[]} queues */
function queuesPanel(queues) {
  const rows = queues.map((queue) => {
    const isDlq = / DLQ$/.test(queue.queue);
    const age =
      queue.oldestAgeSeconds === null || queue.oldestAgeSeconds === undefined
        ? h('td', { class: 'num muted', testid: 'queue-oldest', 'data-value': '' }, queue.oldestAgeNote ?? '—')
        : num(queue.oldestAgeSeconds, fmtDuration(queue.oldestAgeSeconds * 1000), 'queue-oldest');
    return {
      cells: [
        h('td', {}, queue.queue),
        num(queue.visible, undefined, 'queue-visible'),
        num(queue.inFlight, undefined, 'queue-in-flight'),
        num(queue.delayed, undefined, 'queue-delayed'),
        age,
      ],
      props: {
        testid: 'queue-row',
        'data-queue': queue.queue,
        class: isDlq && queue.visible > 0 ? 'attention' : undefined,
      },
    };
  });
  return panel(
    'Queues and dead-letter queues',
    table(
      [
        { label: 'queue' },
        { label: 'visible', num: true },
        { label: 'in flight', num: true },
        { label: 'delayed', num: true },
        { label: 'oldest', num: true },
      ],
      rows,
      { testid: 'queues' },
    ),
  );
}

/** @param {import('../types.js').DaySummary | undefined} today */
function todayPanel(today) {
  if (today === undefined) return panel('Today', h('p', { class: 'muted' }, 'No usage figures.'));
  const budget = today.budget ?? {};
  const limit = budget.limitUsd;
  const meter = h('div', { class: 'meter', testid: 'budget-meter' });
  if (typeof limit === 'number' && limit > 0) {
    const spent = Math.min(1, budget.spentUsd / limit);
    const committed = Math.min(1, (budget.spentUsd + budget.reservedUsd) / limit);
    const reservedBar = h('div', { class: 'meter-reserved' });
    const spentBar = h('div', { class: 'meter-spent' });
    reservedBar.style.width = `${(committed * 100).toFixed(2)}%`;
    spentBar.style.width = `${(spent * 100).toFixed(2)}%`;
    meter.append(reservedBar, spentBar);
    if ((budget.usedShare ?? 0) >= 1) meter.classList.add('over');
  }
  return panel(
    `Today (${today.day}, UTC)`,
    h(
      'dl',
      { class: 'kv' },
      h('dt', {}, 'LLM calls'),
      h('dd', { testid: 'today-calls', 'data-value': today.calls }, fmtCount(today.calls)),
      h('dt', {}, 'tokens'),
      h('dd', {}, `${fmtCount(today.promptTokens)} prompt + ${fmtCount(today.completionTokens)} completion`),
      h('dt', {}, 'spend'),
      h('dd', { testid: 'today-cost', 'data-value': today.costUsd }, fmtUsd(today.costUsd)),
      h('dt', {}, 're-billed calls'),
      h('dd', { testid: 'today-rebilled', 'data-value': today.rebilledCalls }, fmtCount(today.rebilledCalls)),
    ),
    h('h3', { class: 'small' }, 'Daily budget'),
    meter,
    h(
      'div',
      { class: 'small', testid: 'budget' },
      typeof limit === 'number'
        ? `${fmtUsd(budget.spentUsd)} spent + ${fmtUsd(budget.reservedUsd)} reserved of ${fmtUsd(limit)} (${fmtPercent(budget.usedShare)} committed)`
        : `${fmtUsd(budget.spentUsd)} spent + ${fmtUsd(budget.reservedUsd)} reserved; the limit (cdk.json dailyBudgetUsd) could not be read`,
    ),
  );
}

/** @param {readonly import('../types.js').BreakerStatus[]} breakers */
function breakersPanel(breakers) {
  if (breakers.length === 0) {
    return panel(
      'Circuit breakers',
      h('p', { class: 'muted', testid: 'breakers' }, 'No breaker records: none has tripped.'),
    );
  }
  return panel(
    'Circuit breakers',
    table(
      [
        { label: 'dependency' },
        { label: 'state' },
        { label: 'failures', num: true },
        { label: 'opens', num: true },
        { label: 'open until' },
      ],
      breakers.map((breaker) => ({
        cells: [
          breaker.dependency,
          h('td', {}, badge(breaker.state, `state-${breaker.state}`)),
          num(breaker.failures),
          num(breaker.opens),
          fmtTime(breaker.openUntil),
        ],
        props: { testid: 'breaker-row', 'data-dependency': breaker.dependency, 'data-state': breaker.state },
      })),
      { testid: 'breakers' },
    ),
  );
}

/** @param {readonly import('../types.js').LimiterStatus[]} limiters */
function limitersPanel(limiters) {
  if (limiters.length === 0) {
    return panel('Rate limiters', h('p', { class: 'muted', testid: 'limiters' }, 'No limiter records yet.'));
  }
  return panel(
    'Rate limiters',
    table(
      [
        { label: 'model' },
        { label: 'rpm', num: true },
        { label: 'tpm', num: true },
        { label: 'requests ahead', num: true },
        { label: 'tokens ahead', num: true },
        { label: 'held by a 429 until' },
      ],
      limiters.map((limiter) => ({
        cells: [
          limiter.model,
          num(limiter.rpm ?? null),
          num(limiter.tpm ?? null),
          num(limiter.requestsAheadMs, fmtDuration(limiter.requestsAheadMs)),
          num(limiter.tokensAheadMs, fmtDuration(limiter.tokensAheadMs)),
          limiter.heldUntil
            ? badge(fmtTime(limiter.heldUntil), 'tone-danger')
            : h('span', { class: 'muted' }, 'not held'),
        ],
        props: { testid: 'limiter-row', 'data-model': limiter.model },
      })),
      { testid: 'limiters' },
    ),
  );
}

/** @param {import('../types.js').DaySummary | undefined} today */
function usagePanel(today) {
  const lines = today?.byStageAndModel ?? [];
  if (lines.length === 0)
    return panel("Today's usage by stage and model", h('p', { class: 'muted' }, 'No LLM call today.'));
  return panel(
    "Today's usage by stage and model",
    table(
      [
        { label: 'stage' },
        { label: 'model' },
        { label: 'calls', num: true },
        { label: 'prompt', num: true },
        { label: 'completion', num: true },
        { label: 'cost', num: true },
        { label: 're-billed', num: true },
      ],
      lines.map((line) => [
        line.stage,
        line.model,
        num(line.calls),
        num(line.promptTokens),
        num(line.completionTokens),
        num(line.costUsd, fmtUsd(line.costUsd)),
        num(line.rebilledCalls),
      ]),
      { testid: 'today-usage' },
    ),
  );
}

/** @param {StatusSnapshot['alarms'] | undefined} alarms */
function alarmsPanel(alarms) {
  if (alarms === undefined) return panel('Alarms', h('p', { class: 'muted' }, 'Unknown.'));
  let content;
  if (!alarms.checked)
    content = h('p', { class: 'muted', testid: 'alarms' }, alarms.note ?? 'Alarms were not checked.');
  else if (alarms.inAlarm.length === 0)
    content = h('p', { testid: 'alarms' }, badge('OK', 'tone-ok'), ' No alarm is firing.');
  else
    content = table(
      [{ label: 'alarm' }, { label: 'since' }, { label: 'reason' }],
      alarms.inAlarm.map((alarm) => ({
        cells: [h('strong', {}, alarm.name), fmtTime(alarm.since), alarm.reason],
        props: { class: 'attention' },
      })),
      { testid: 'alarms' },
    );
  return panel('Alarms', alarms.checked && alarms.note ? h('p', { class: 'muted small' }, alarms.note) : null, content);
}

/** Names the target in the top bar. @param {StatusSnapshot} status */
function setTarget(status) {
  const target = requireElement('target');
  target.textContent = `${status.stack} · ${status.target} · ${status.source}`;
}
