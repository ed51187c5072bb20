/**
 * The sluice console: a single page over the console's JSON API (/api/*), routed on the client with
 * history.pushState. Every string from the API reaches the page as text (textContent or a text node, never
 * parsed as HTML), and every API error is shown where the data would have been.
 */

const ITEM_STATES = [
  'RECEIVED',
  'EXTRACTING',
  'EXTRACTED',
  'DRAFTING',
  'REVIEWING',
  'PUBLISHED',
  'DEAD_LETTER',
  'DISCARDED',
];
/** Where an item is: the stage it is in or died in, or `published` once done. */
const STAGES = ['extract', 'draft', 'published'];
const LANE_LABELS = {
  extract: 'intake DLQ → intake queue',
  draft: 'draft DLQ → draft queue',
  published: 'published DLQ → published queue',
};
/** How often the board reads the status again. */
const REFRESH_MS = 5000;
/** Item ids listed per dead-letter group before the rest are summarised. */
const GROUP_LIST_LIMIT = 100;
const SERIES_COLOURS = ['#2457c5', '#d97706', '#0f9d8a', '#9333ea', '#dc2626', '#64748b', '#65a30d', '#db2777'];

const main = requireElement('main');

// ---------------------------------------------------------------------------------------------------------------
// DOM helpers: elements are built node by node; data only ever becomes text.

function requireElement(id) {
  const element = document.getElementById(id);
  if (element === null) throw new Error(`the page has no #${id}`);
  return element;
}

/**
 * Builds an element. `props`: `class`, `testid` (data-testid), `text` (textContent), `on<event>` handlers,
 * anything else an attribute (skipped when null, undefined or false). Children: nodes, or text for anything else.
 */
function h(tag, props = {}, ...children) {
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

function append(parent, children) {
  for (const child of children.flat(Number.POSITIVE_INFINITY)) {
    if (child === undefined || child === null || child === false) continue;
    parent.append(child instanceof Node ? child : String(child));
  }
}

/** A table: `columns` = [{ label, num? }], rows = arrays of cells (nodes or text) or `{ cells, props }`. */
function table(columns, rows, { testid, footer, className } = {}) {
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
function num(value, text, testid) {
  return h('td', { class: 'num', testid, 'data-value': value ?? '' }, text ?? (value === null ? '—' : fmtCount(value)));
}

function badge(text, tone) {
  return h('span', { class: `badge ${tone ?? ''}`.trim() }, text);
}

function stateBadge(state) {
  return h('span', { class: `badge state-${state}`, testid: 'state-badge' }, state);
}

function link(path, text, props = {}) {
  return h('a', { href: path, ...props }, text);
}

function itemPath(itemId) {
  return `/items/${encodeURIComponent(itemId)}`;
}

function panel(title, ...children) {
  return h('section', { class: 'panel' }, title ? h('h2', {}, title) : null, ...children);
}

function details(summary, content, { open = false, testid } = {}) {
  return h('details', { open, testid }, h('summary', {}, summary), content);
}

function jsonBlock(value, testid) {
  return h('pre', { class: 'mono', testid }, JSON.stringify(value, null, 2));
}

// ---------------------------------------------------------------------------------------------------------------
// Formatting, as the CLI prints it.

const fmtCount = (value) => (typeof value === 'number' ? value.toLocaleString('en-US') : '—');
const fmtUsd = (usd) => (typeof usd === 'number' ? `$${usd.toFixed(4)}` : '—');
const fmtPercent = (share) => (typeof share === 'number' ? `${(share * 100).toFixed(1)}%` : '—');

function fmtDuration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${String(minutes % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** An ISO instant as `YYYY-MM-DD HH:MM:SSZ` (UTC, like the CLI's days). */
function fmtTime(iso) {
  if (typeof iso !== 'string' || iso === '') return '—';
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

function clock(ms) {
  return `${new Date(ms).toISOString().slice(11, 19)} UTC`;
}

function plural(count, word) {
  return `${fmtCount(count)} ${word}${count === 1 ? '' : 's'}`;
}

const sumValues = (counts) => Object.values(counts ?? {}).reduce((total, n) => total + n, 0);

function byClassText(counts) {
  return Object.entries(counts ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([errorClass, n]) => `${errorClass} ${n}`)
    .join(', ');
}

// ---------------------------------------------------------------------------------------------------------------
// The API client: every failure becomes an ApiError with the server's message.

class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.body = body;
  }
}

async function api(path, { method = 'GET', body } = {}) {
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
function errorBox(error, context) {
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

// ---------------------------------------------------------------------------------------------------------------
// Routing: one render per navigation; a view knows when it was left, so late answers and timers stop.

let currentToken = 0;
let leaving = [];

const ROUTES = [
  { pattern: /^\/(?:board)?\/?$/, nav: 'board', title: 'Board', render: renderBoard },
  { pattern: /^\/items\/?$/, nav: 'items', title: 'Items', render: renderItems },
  { pattern: /^\/items\/(.+)$/, nav: 'items', title: 'Item', render: renderItem },
  { pattern: /^\/dead-letters\/?$/, nav: 'dead-letters', title: 'Dead letters', render: renderDeadLetters },
  { pattern: /^\/economics\/?$/, nav: 'economics', title: 'Economics', render: renderEconomics },
];

function navigate(path, { replace = false } = {}) {
  if (replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  void render();
}

async function render() {
  for (const leave of leaving) leave();
  leaving = [];
  currentToken += 1;
  const token = currentToken;
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
  const route = ROUTES.find((candidate) => candidate.pattern.test(url.pathname));
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
    const match = route.pattern.exec(url.pathname);
    await route.render(view, match, url.searchParams);
  } catch (error) {
    view.show(h('div', { class: 'page-head' }, h('h1', {}, route.title)), errorBox(error));
  } finally {
    if (view.alive()) main.removeAttribute('aria-busy');
  }
}

document.addEventListener('click', (event) => {
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
  if (anchor === null || anchor.hasAttribute('target') || anchor.hasAttribute('download')) return;
  const url = new URL(anchor.href, location.href);
  if (url.origin !== location.origin || url.pathname.startsWith('/api/') || url.pathname.startsWith('/assets/')) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
});

window.addEventListener('popstate', () => void render());

function setTarget(status) {
  const target = requireElement('target');
  target.textContent = `${status.stack} · ${status.target} · ${status.source}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Board: items per state, queues, breakers, limiters, today's spend and alarms, read again every few seconds.

async function renderBoard(view) {
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
  let lastAt;
  const refresh = async () => {
    if (busy) return;
    busy = true;
    try {
      const status = await api('/api/status');
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

function boardSections(status) {
  const byState = status.items?.byState ?? {};
  const cards = h(
    'div',
    { class: 'cards', testid: 'state-counts' },
    ITEM_STATES.map((state) =>
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

// ---------------------------------------------------------------------------------------------------------------
// Items: a filterable list, newest first.

const ITEM_FILTERS = ['state', 'stage', 'degraded', 'errorClass', 'since', 'until', 'q', 'limit'];

async function renderItems(view, _match, params) {
  const value = (name) => params.get(name) ?? '';
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
    select('state', 'state', [['', 'any state'], ...ITEM_STATES.map((state) => [state, state])]),
    select('stage', 'stage', [['', 'any stage'], ...STAGES.map((stage) => [stage, stage])]),
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
    const list = await api(`/api/items${query.size > 0 ? `?${query}` : ''}`);
    if (!view.alive()) return;
    results.replaceChildren(itemsTable(list));
  } catch (error) {
    if (view.alive()) results.replaceChildren(errorBox(error, 'The items could not be listed.'));
  }
}

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

// ---------------------------------------------------------------------------------------------------------------
// Item: the whole chain of one item.

async function renderItem(view, match) {
  let itemId;
  try {
    itemId = decodeURIComponent(match[1]);
  } catch {
    view.show(
      h('div', { class: 'page-head' }, h('h1', {}, 'Item')),
      errorBox(new ApiError(400, `'${match[1]}' is not a valid item address`)),
    );
    return;
  }
  const back = h('p', {}, link('/items', '← All items'));
  try {
    const chain = await api(`/api/items/${encodeURIComponent(itemId)}`);
    view.show(back, ...itemSections(chain));
  } catch (error) {
    view.show(
      back,
      h('div', { class: 'page-head' }, h('h1', { class: 'mono' }, itemId)),
      errorBox(
        error,
        error instanceof ApiError && error.status === 404 ? 'No such item.' : 'The item could not be read.',
      ),
    );
  }
}

function itemSections(chain) {
  const item = chain.item;
  const flags = item.degraded ?? [];
  const head = h(
    'div',
    { class: 'page-head' },
    h('h1', { class: 'mono', testid: 'item-id' }, item.itemId),
    h('span', { testid: 'item-state' }, stateBadge(item.state)),
    flags.map((flag) => badge(flag, 'degraded')),
  );
  const publication = item.publication;
  const facts = panel(
    null,
    h(
      'dl',
      { class: 'kv' },
      h('dt', {}, 'created'),
      h('dd', {}, fmtTime(item.createdAt)),
      h('dt', {}, 'updated'),
      h('dd', {}, fmtTime(item.updatedAt)),
      h('dt', {}, 'version'),
      h('dd', {}, String(item.version)),
      publication
        ? [
            h('dt', {}, 'published'),
            h(
              'dd',
              { testid: 'publication' },
              `${fmtTime(publication.publishedAt)} as ${publication.publicationId}, revision ${publication.revision}, `,
              publication.approved ? badge('approved', 'tone-ok') : badge('not approved', 'tone-warn'),
            ),
          ]
        : null,
    ),
  );
  return [
    head,
    facts,
    h('div', { class: 'grid grid-2' }, inputPanel(item), extractionPanel(item)),
    memoryPanel(chain),
    draftsPanel(chain),
    callsPanel(chain),
    h('div', { class: 'grid grid-2' }, attemptsPanel(item), historyPanel(item)),
    panel('Raw record', details('The whole chain as JSON', jsonBlock(chain, 'chain-json'))),
  ];
}

function externalLink(url) {
  return /^https?:\/\//i.test(url) ? h('a', { href: url, rel: 'noopener noreferrer', target: '_blank' }, url) : url;
}

function inputPanel(item) {
  const input = item.input;
  if (input) {
    const rows = [['title', input.title]];
    for (const key of ['url', 'source', 'author', 'publishedAt'])
      if (input[key] !== undefined) rows.push([key, input[key]]);
    return panel(
      'Input',
      h(
        'dl',
        { class: 'kv', testid: 'input' },
        rows.map(([key, text]) => [h('dt', {}, key), h('dd', {}, key === 'url' ? externalLink(text) : text)]),
      ),
      details(`body (${fmtCount(input.body.length)} characters)`, h('pre', { testid: 'input-body' }, input.body), {
        open: true,
      }),
    );
  }
  if (item.rawInput !== undefined) {
    return panel(
      'Input',
      h('p', { class: 'muted' }, 'Not a valid item: the message as received.'),
      h('pre', { testid: 'raw-input' }, item.rawInput),
    );
  }
  return panel('Input', h('p', { class: 'muted' }, 'None recorded.'));
}

function extractionPanel(item) {
  if (!item.knowledge) return panel('Extraction', h('p', { class: 'muted', testid: 'extraction' }, 'None yet.'));
  return panel(
    'Extraction',
    details('knowledge (JSON)', jsonBlock(item.knowledge, 'extraction-json'), { open: true, testid: 'extraction' }),
  );
}

function memoryPanel(chain) {
  const item = chain.item;
  const content = [];
  if (chain.memory.length === 0) {
    content.push(
      (item.degraded ?? []).includes('NO_HISTORY')
        ? h('p', {}, badge('NO_HISTORY', 'degraded'), ' drafted without history')
        : h('p', { class: 'muted' }, 'No draft yet.'),
    );
  }
  for (const use of chain.memory) {
    const label = chain.memory.length > 1 || use.generation > 0 ? `Generation ${use.generation}: ` : '';
    if (use.degraded) {
      content.push(
        h(
          'p',
          { testid: 'memory-use' },
          label,
          badge('NO_HISTORY', 'degraded'),
          ' the memory store was unavailable: drafted without history',
        ),
      );
    } else if (use.related.length === 0) {
      content.push(h('p', { testid: 'memory-use' }, `${label}no related items found`));
    } else {
      content.push(
        h('p', { testid: 'memory-use' }, `${label}${plural(use.related.length, 'related item')} given to the draft:`),
        h(
          'ul',
          {},
          use.related.map((related) =>
            h(
              'li',
              { testid: 'related-item' },
              link(itemPath(related.itemId), related.itemId, { class: 'mono' }),
              ` ${related.title}`,
            ),
          ),
        ),
      );
    }
  }
  return panel('Memory', ...content);
}

function draftsPanel(chain) {
  if (chain.drafts.length === 0) return panel('Drafts', h('p', { class: 'muted' }, 'None yet.'));
  return panel(
    `Drafts (${chain.drafts.length})`,
    h(
      'div',
      { class: 'drafts', testid: 'drafts' },
      chain.drafts.map((round) => {
        const name = `${round.generation > 0 ? `Generation ${round.generation}, ` : ''}revision ${round.revision}`;
        const review = round.review;
        return h(
          'article',
          {
            class: `draft ${round.published ? 'published' : ''} ${round.verdict === 'rejected' ? 'rejected' : ''}`,
            testid: 'draft',
            'data-verdict': round.verdict,
            'data-published': String(round.published),
          },
          h(
            'div',
            { class: 'draft-head' },
            h('strong', {}, name),
            badge(round.verdict, `verdict-${round.verdict}`),
            round.published ? badge('published', 'tone-ok') : null,
          ),
          round.draft
            ? h('div', { class: 'draft-title' }, round.draft.title)
            : h('div', { class: 'muted' }, 'No valid draft recorded.'),
          review && round.verdict === 'rejected'
            ? h(
                'div',
                { class: 'feedback', testid: 'feedback' },
                h('strong', {}, 'Reviewer: '),
                review.feedback,
                review.unsupportedClaims?.length > 0
                  ? h(
                      'ul',
                      {},
                      review.unsupportedClaims.map((claim) => h('li', {}, `unsupported: ${claim}`)),
                    )
                  : null,
              )
            : null,
          review && round.verdict === 'accepted' && review.feedback
            ? h('div', { class: 'small muted' }, `Reviewer: ${review.feedback}`)
            : null,
          round.draft ? h('pre', { testid: 'draft-markdown' }, round.draft.markdown) : null,
        );
      }),
    ),
  );
}

function callsPanel(chain) {
  if (chain.calls.length === 0) return panel('LLM calls', h('p', { class: 'muted' }, 'None.'));
  const t = chain.totals;
  return panel(
    'LLM calls',
    table(
      [
        { label: 'step' },
        { label: 'model' },
        { label: 'prompt', num: true },
        { label: 'completion', num: true },
        { label: 'cost', num: true },
        { label: 'latency', num: true },
        { label: 'outcome' },
        { label: 're-billed' },
        { label: 'at' },
      ],
      chain.calls.map((call) => ({
        cells: [
          h('td', { class: 'mono nowrap' }, `${call.stage} ${call.step}${call.n > 0 ? ` #${call.n}` : ''}`),
          call.model,
          num(call.promptTokens),
          num(call.completionTokens),
          num(call.costUsd, fmtUsd(call.costUsd)),
          num(call.latencyMs, fmtDuration(call.latencyMs)),
          h('td', {}, badge(call.outcome, call.outcome === 'ok' ? 'tone-ok' : 'tone-danger')),
          call.rebilled ? h('td', {}, badge('re-billed', 'tone-warn')) : '',
          h('td', { class: 'nowrap' }, fmtTime(call.at)),
        ],
        props: { testid: 'call-row' },
      })),
      {
        testid: 'calls',
        footer: {
          cells: [
            'total',
            h('td', { testid: 'total-calls', 'data-value': t.calls }, plural(t.calls, 'call')),
            num(t.promptTokens, undefined, 'total-prompt'),
            num(t.completionTokens, undefined, 'total-completion'),
            num(t.costUsd, fmtUsd(t.costUsd), 'total-cost'),
            '',
            '',
            t.rebilledCalls > 0 ? `${t.rebilledCalls} re-billed` : '',
            '',
          ],
          props: { class: 'total', testid: 'calls-total' },
        },
      },
    ),
  );
}

function failureBlock(label, failure, tone) {
  return h(
    'div',
    { class: `notice ${tone}`, testid: label === 'Dead-lettered' ? 'dead-letter' : 'last-error' },
    h(
      'div',
      {},
      h('strong', {}, `${label}: `),
      badge(failure.errorClass, tone),
      ` in ${failure.stage}, attempt ${failure.attempts}, ${fmtTime(failure.at)}`,
    ),
    h('pre', { class: 'small' }, failure.message),
    typeof failure.stack === 'string' ? details('stack', h('pre', { class: 'small' }, failure.stack)) : null,
  );
}

function attemptsPanel(item) {
  return panel(
    'Attempts and errors',
    h(
      'dl',
      { class: 'kv', testid: 'attempts' },
      h('dt', {}, 'failed attempts'),
      h('dd', {}, `extract ${item.attempts?.extract ?? 0}, draft ${item.attempts?.draft ?? 0}`),
      h('dt', {}, 'waits (deferrals)'),
      h('dd', {}, String(item.deferrals ?? 0)),
    ),
    item.lastError ? failureBlock('Last error', item.lastError, 'tone-warn') : null,
    item.deadLetter ? failureBlock('Dead-lettered', item.deadLetter, 'tone-danger') : null,
    !item.lastError && !item.deadLetter ? h('p', { class: 'muted' }, 'No error recorded.') : null,
  );
}

function historyPanel(item) {
  const history = item.history ?? [];
  if (history.length === 0) return panel('History', h('p', { class: 'muted' }, 'No state change recorded.'));
  const start = Date.parse(history[0].at);
  return panel(
    'History',
    h(
      'ol',
      { class: 'timeline', testid: 'history' },
      history.map((change, index) => {
        const at = Date.parse(change.at);
        const previous = index === 0 ? at : Date.parse(history[index - 1].at);
        return h(
          'li',
          { class: `state-${change.state}`, testid: 'history-entry', 'data-state': change.state },
          stateBadge(change.state),
          h('span', { class: 'when' }, fmtTime(change.at)),
          index > 0
            ? h('span', { class: 'when' }, `+${fmtDuration(at - previous)} (${fmtDuration(at - start)} in)`)
            : null,
        );
      }),
    ),
  );
}

// ---------------------------------------------------------------------------------------------------------------
// Dead letters: grouped by stage and error class; redrive a group or selected items, re-enrich degraded items.

async function renderDeadLetters(view) {
  const selected = new Set();
  const resultSlot = h('div', { testid: 'action-slot' });
  const body = h('div', { testid: 'dead-letters' }, h('p', { class: 'muted' }, 'Loading…'));
  const selectedButton = h(
    'button',
    { type: 'button', class: 'button button-primary', testid: 'redrive-selected', disabled: true },
    'Redrive selected',
  );
  const reloadButton = h('button', { type: 'button', class: 'button', testid: 'reload' }, 'Reload');
  const reenrichSince = h('input', {
    type: 'date',
    name: 'since',
    testid: 'reenrich-since',
    title: 'only items published since (optional)',
  });
  const reenrichButton = h(
    'button',
    { type: 'button', class: 'button', testid: 'reenrich' },
    'Re-enrich degraded items…',
  );

  const updateSelection = () => {
    selectedButton.disabled = selected.size === 0;
    selectedButton.textContent =
      selected.size === 0 ? 'Redrive selected' : `Redrive ${plural(selected.size, 'selected item')}…`;
  };

  const load = async () => {
    try {
      const report = await api('/api/dead-letters');
      if (!view.alive()) return;
      const present = new Set(report.groups.flatMap((group) => group.itemIds));
      for (const id of [...selected]) if (!present.has(id)) selected.delete(id);
      body.replaceChildren(...deadLetterGroups(report, selected, updateSelection, redriveGroup));
      updateSelection();
    } catch (error) {
      if (view.alive()) body.replaceChildren(errorBox(error, 'The dead letters could not be read.'));
    }
  };

  const showResult = (node) => {
    if (view.alive()) resultSlot.replaceChildren(node);
  };

  async function redriveGroup(group) {
    const filter = { stage: group.stage, errorClass: group.errorClass };
    const result = await confirmRedrive(`Redrive ${group.stage} · ${group.errorClass}`, filter);
    if (result === undefined) return;
    showResult(redriveResult(result));
    await load();
  }

  selectedButton.addEventListener('click', async () => {
    const itemIds = [...selected].sort();
    const result = await confirmRedrive(`Redrive ${plural(itemIds.length, 'selected item')}`, { itemIds });
    if (result === undefined) return;
    for (const id of itemIds) selected.delete(id);
    showResult(redriveResult(result));
    await load();
  });
  reloadButton.addEventListener('click', () => void load());
  reenrichButton.addEventListener('click', async () => {
    const since = reenrichSince.value === '' ? undefined : reenrichSince.value;
    const result = await confirmReenrich(since);
    if (result !== undefined) showResult(reenrichResult(result));
  });

  view.show(
    h(
      'div',
      { class: 'page-head' },
      h('h1', {}, 'Dead letters'),
      h('span', { class: 'spacer' }),
      h('div', { class: 'toolbar' }, selectedButton, reloadButton),
    ),
    resultSlot,
    body,
    panel(
      'Re-enrich degraded items',
      h(
        'p',
        { class: 'muted small' },
        'Published items drafted without history (NO_HISTORY) can be drafted again with related items once the memory store is back.',
      ),
      h(
        'div',
        { class: 'toolbar' },
        h('label', { class: 'field' }, 'published since (optional)', reenrichSince),
        reenrichButton,
      ),
    ),
  );
  await load();
}

function deadLetterGroups(report, selected, onSelection, redriveGroup) {
  const total = h(
    'p',
    { testid: 'dl-total', 'data-total': report.total },
    `${plural(report.total, 'dead-lettered item')} in ${plural(report.groups.length, 'group')}.`,
  );
  if (report.groups.length === 0)
    return [panel(null, total, h('p', { testid: 'dl-empty' }, 'No dead letters: nothing to redrive.'))];
  return [
    total,
    ...report.groups.map((group) => {
      const checkboxes = [];
      const shown = group.itemIds.slice(0, GROUP_LIST_LIMIT);
      const all = h('input', {
        type: 'checkbox',
        testid: 'dl-select-group',
        'aria-label': `select every item of ${group.stage} ${group.errorClass}`,
      });
      const syncAll = () => {
        all.checked = checkboxes.length > 0 && checkboxes.every((box) => box.checked);
      };
      all.addEventListener('change', () => {
        for (const box of checkboxes) {
          box.checked = all.checked;
          if (all.checked) selected.add(box.value);
          else selected.delete(box.value);
        }
        onSelection();
      });
      const rows = shown.map((itemId) => {
        const box = h('input', {
          type: 'checkbox',
          value: itemId,
          testid: 'dl-select',
          'aria-label': `select ${itemId}`,
          checked: selected.has(itemId),
        });
        box.addEventListener('change', () => {
          if (box.checked) selected.add(itemId);
          else selected.delete(itemId);
          syncAll();
          onSelection();
        });
        checkboxes.push(box);
        return {
          cells: [h('td', {}, box), h('td', { class: 'mono' }, link(itemPath(itemId), itemId))],
          props: { testid: 'dl-item', 'data-item-id': itemId },
        };
      });
      syncAll();
      const sample = group.sample;
      return h(
        'section',
        { class: 'panel', testid: 'dl-group', 'data-stage': group.stage, 'data-error-class': group.errorClass },
        h(
          'div',
          { class: 'group-head' },
          badge(group.stage, 'tone-working'),
          h('h2', { class: 'mono' }, group.errorClass),
          h('span', { class: 'count', testid: 'dl-group-count', 'data-value': group.count }, fmtCount(group.count)),
          h('span', { class: 'spacer' }),
          h(
            'button',
            { type: 'button', class: 'button', testid: 'redrive-group', onclick: () => void redriveGroup(group) },
            `Redrive this group (${fmtCount(group.count)})…`,
          ),
        ),
        sample
          ? h(
              'div',
              { class: 'sample', testid: 'dl-sample' },
              h(
                'div',
                { class: 'small muted' },
                'Sample error from ',
                link(itemPath(sample.itemId), sample.itemId, { class: 'mono' }),
              ),
              h('div', { class: 'sample-message' }, sample.message),
              typeof sample.stack === 'string' && sample.stack !== ''
                ? details('stack', h('pre', { class: 'small' }, sample.stack))
                : null,
            )
          : null,
        table([{ label: h('span', {}, all) }, { label: 'item' }], rows, {
          testid: 'dl-items',
          className: 'select-table',
        }),
        group.itemIds.length > shown.length
          ? h(
              'p',
              { class: 'muted small' },
              `and ${fmtCount(group.itemIds.length - shown.length)} more; redrive the group to move them all.`,
            )
          : null,
      );
    }),
  ];
}

/** The redrive's dry run in the dialog, then the redrive itself once confirmed. */
function confirmRedrive(title, filter) {
  return confirmAction({
    title,
    confirmLabel: 'Redrive',
    preview: async () => {
      const dryRun = await api('/api/redrive', { method: 'POST', body: { ...filter, dryRun: true } });
      return { nodes: redrivePreview(dryRun, filter), actionable: (dryRun.moved ?? 0) > 0 };
    },
    run: () => api('/api/redrive', { method: 'POST', body: { ...filter, confirm: true } }),
  });
}

function laneLines(lanes, key, verb) {
  return (lanes ?? [])
    .filter((lane) => sumValues(lane[key]) > 0)
    .map((lane) =>
      h(
        'li',
        { testid: `lane-${key}`, 'data-lane': lane.lane },
        `${LANE_LABELS[lane.lane] ?? lane.lane}: ${verb} ${sumValues(lane[key])} (${byClassText(lane[key])})`,
      ),
    );
}

function redrivePreview(dryRun, filter) {
  const invalid = (dryRun.lanes ?? []).reduce((total, lane) => total + (lane.moved?.InvalidItemError ?? 0), 0);
  const scope = filter.itemIds
    ? h('p', { class: 'small muted' }, `Selected: ${filter.itemIds.join(', ')}`)
    : h('p', { class: 'small muted' }, `Stage ${filter.stage}, error class ${filter.errorClass}.`);
  if ((dryRun.moved ?? 0) === 0) {
    return [
      scope,
      h('p', { testid: 'preview-nothing' }, 'Nothing matches in the dead-letter queues: nothing would move.'),
    ];
  }
  return [
    scope,
    h(
      'p',
      { testid: 'preview-moved', 'data-value': dryRun.moved },
      `${plural(dryRun.moved, 'dead letter')} will move back, each to the queue it came from:`,
    ),
    h('ul', {}, laneLines(dryRun.lanes, 'moved', 'move')),
    (dryRun.left ?? 0) > 0
      ? h(
          'p',
          { class: 'muted small', testid: 'preview-left' },
          `${fmtCount(dryRun.left)} other dead letter(s) stay where they are.`,
        )
      : null,
    invalid > 0
      ? h(
          'p',
          { class: 'notice tone-warn', testid: 'preview-invalid' },
          `${plural(invalid, 'InvalidItemError message')} will fail validation again and return to the DLQ: fix and re-send those items instead.`,
        )
      : null,
    h(
      'p',
      { class: 'small' },
      'A redriven item resumes from its last checkpoint with a fresh failure budget; answers already paid for are not paid again.',
    ),
  ];
}

function redriveResult(result) {
  if (result.mode === 'move-task') {
    return h(
      'div',
      { class: 'notice', role: 'status', testid: 'action-result' },
      h('strong', {}, 'Redrive started with SQS message move tasks. '),
      h(
        'ul',
        {},
        (result.tasks ?? []).map((task) =>
          h(
            'li',
            {},
            `${LANE_LABELS[task.lane] ?? task.lane}: ${task.failure ? `FAILED: ${task.failure}` : `${task.status ?? 'started'}, ~${task.approximateToMove ?? task.depth} message(s)`}`,
          ),
        ),
      ),
    );
  }
  const failed = result.failed ?? 0;
  return h(
    'div',
    {
      class: `notice ${failed > 0 ? 'tone-warn' : ''}`,
      role: 'status',
      testid: 'action-result',
      'data-moved': result.moved,
      'data-failed': failed,
    },
    h('strong', {}, `Moved ${plural(result.moved ?? 0, 'dead letter')} back.`),
    ` ${fmtCount(result.left ?? 0)} left in the DLQs${failed > 0 ? `; ${failed} could not be sent and are still in their DLQ` : ''}. Moved items resume from their last checkpoint; reload to follow them.`,
    h('ul', {}, laneLines(result.lanes, 'moved', 'moved')),
  );
}

function confirmReenrich(since) {
  const base = since === undefined ? {} : { since };
  return confirmAction({
    title: 'Re-enrich degraded items',
    confirmLabel: 'Re-enrich',
    preview: async () => {
      const dryRun = await api('/api/reenrich', { method: 'POST', body: { ...base, dryRun: true } });
      const ids = dryRun.itemIds ?? [];
      if (ids.length === 0) {
        return {
          nodes: [
            h(
              'p',
              { testid: 'preview-nothing' },
              `No published item is flagged NO_HISTORY${since ? ` since ${since}` : ''}: nothing to redraft.`,
            ),
          ],
          actionable: false,
        };
      }
      return {
        actionable: true,
        nodes: [
          h(
            'p',
            { testid: 'preview-found', 'data-value': ids.length },
            `${plural(ids.length, 'published item')} drafted without history will be queued for a redraft with related items:`,
          ),
          h(
            'ul',
            { class: 'mono small' },
            ids.slice(0, 50).map((id) => h('li', {}, id)),
          ),
          ids.length > 50 ? h('p', { class: 'muted small' }, `and ${fmtCount(ids.length - 50)} more`) : null,
        ],
      };
    },
    run: () => api('/api/reenrich', { method: 'POST', body: { ...base, confirm: true } }),
  });
}

function reenrichResult(result) {
  return h(
    'div',
    { class: 'notice', role: 'status', testid: 'action-result', 'data-sent': result.sent },
    h('strong', {}, `Queued ${plural(result.sent ?? 0, 'item')} for a redraft with history`),
    ` (found ${fmtCount(result.found ?? 0)}).`,
  );
}

/**
 * The modal confirmation: shows what `preview` finds (nothing is changed yet), and runs `run` only when the
 * operator confirms. Resolves with run's result, or undefined when cancelled.
 */
let dialogSession = 0;

function confirmAction({ title, confirmLabel, preview, run }) {
  const dialog = requireElement('confirm-dialog');
  dialogSession += 1;
  const session = dialogSession;
  /** The dialog still shows this action (not one opened after it was cancelled). */
  const current = () => session === dialogSession && dialog.open;
  const heading = requireElement('confirm-title');
  const body = requireElement('confirm-body');
  const confirm = requireElement('confirm-button');
  const cancel = requireElement('cancel-button');
  heading.textContent = title;
  body.replaceChildren(h('p', { class: 'muted', testid: 'preview-loading' }, 'Checking what would change (dry run)…'));
  confirm.textContent = confirmLabel;
  confirm.disabled = true;
  cancel.disabled = false;
  dialog.showModal();

  return new Promise((resolve) => {
    let running = false;
    const finish = (value) => {
      confirm.removeEventListener('click', onConfirm);
      cancel.removeEventListener('click', onCancel);
      dialog.removeEventListener('cancel', onEscape);
      if (dialog.open) dialog.close();
      resolve(value);
    };
    const onCancel = () => finish(undefined);
    const onEscape = (event) => {
      if (running) event.preventDefault();
      else finish(undefined);
    };
    const onConfirm = async () => {
      running = true;
      confirm.disabled = true;
      cancel.disabled = true;
      body.append(h('p', { class: 'muted', testid: 'confirm-running' }, 'Working…'));
      try {
        const result = await run();
        finish(result);
      } catch (error) {
        running = false;
        cancel.disabled = false;
        body.replaceChildren(
          errorBox(error, 'Nothing was confirmed as done; check the dead letters before trying again.'),
        );
      }
    };
    confirm.addEventListener('click', onConfirm);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('cancel', onEscape);
    preview().then(
      ({ nodes, actionable }) => {
        if (!current()) return;
        body.replaceChildren(...nodes.filter(Boolean));
        confirm.disabled = !actionable;
      },
      (error) => {
        if (current()) body.replaceChildren(errorBox(error, 'The dry run failed; nothing was changed.'));
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Economics: tokens and dollars per day by stage and model, spend against the budget, cost per published item.

async function renderEconomics(view, _match, params) {
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
    api(`/api/economics${sinceQuery ? `?${sinceQuery}` : ''}`),
    api(`/api/costs?${sinceQuery ? `${sinceQuery}&` : ''}by=${encodeURIComponent(by)}`),
  ]);
  if (!view.alive()) return;
  const charts = [];
  view.onLeave(() => {
    for (const chart of charts) chart.destroy();
  });
  const sections = [h('div', { class: 'page-head' }, h('h1', {}, 'Economics')), panel(null, form)];
  if (economics.status === 'fulfilled') sections.push(...economicsSections(economics.value));
  else sections.push(errorBox(economics.reason, 'The economics could not be read.'));
  if (costs.status === 'fulfilled') sections.push(costsPanel(costs.value));
  else sections.push(errorBox(costs.reason, 'The cost table could not be read.'));
  view.show(sections);
  if (economics.status === 'fulfilled') drawCharts(economics.value, charts);
}

function economicsSections(economics) {
  // The server sums the cost in nano-dollars, exactly; summing the rounded points here could drift.
  const totalCost = economics.costUsd ?? economics.series.reduce((total, row) => total + row.costUsd, 0);
  const totalTokens = economics.series.reduce((total, row) => total + row.promptTokens + row.completionTokens, 0);
  const totalCalls = economics.series.reduce((total, row) => total + row.calls, 0);
  const period = economics.days.length > 0 ? `${economics.days[0]} to ${economics.days.at(-1)} (UTC)` : 'no days';
  const card = (label, value, text, testid, note) =>
    h(
      'div',
      { class: 'card' },
      h('div', { class: 'card-label' }, label),
      h('div', { class: 'card-value', testid, 'data-value': value ?? '' }, text),
      note ? h('div', { class: 'card-note' }, note) : null,
    );
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

function drawCharts(economics, charts) {
  const ChartClass = globalThis.Chart;
  const canvases = ['chart-tokens', 'chart-cost', 'chart-budget', 'chart-rebilled'].map((testid) =>
    main.querySelector(`[data-testid="${testid}"]`),
  );
  if (typeof ChartClass !== 'function') {
    for (const canvas of canvases)
      canvas?.replaceWith(errorBox(new Error('Chart.js did not load (/assets/chart.umd.min.js).')));
    return;
  }
  const [tokensCanvas, costCanvas, budgetCanvas, rebilledCanvas] = canvases;
  const days = economics.days;
  const perDay = (key, pick) => {
    const names = [...new Set(economics.series.map((row) => row[key]))].sort();
    return names.map((name, index) => ({
      label: name,
      backgroundColor: SERIES_COLOURS[index % SERIES_COLOURS.length],
      data: days.map((day) =>
        economics.series
          .filter((row) => row.day === day && row[key] === name)
          .reduce((total, row) => total + pick(row), 0),
      ),
    }));
  };
  // Thirty dates do not fit across a chart: MM-DD, and Chart.js skips some when they crowd.
  const dayAxis = {
    stacked: true,
    ticks: { maxRotation: 0, autoSkip: true, callback: (_value, index) => days[index]?.slice(5) },
  };
  const legend = { position: 'bottom', labels: { usePointStyle: true } };
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
          tooltip: { callbacks: { label: (context) => `${context.dataset.label}: ${format(context.parsed.y)}` } },
        },
      },
    });
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
    const budgetOf = (day) => economics.budget.find((row) => row.day === day);
    const spent = days.map((day) => budgetOf(day)?.spentUsd ?? 0);
    const reserved = days.map((day) =>
      Math.max(0, (budgetOf(day)?.committedUsd ?? 0) - (budgetOf(day)?.spentUsd ?? 0)),
    );
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
            tooltip: { callbacks: { label: (context) => `${context.dataset.label}: ${usd(context.parsed.y)}` } },
          },
        },
      }),
    );
  }
}

/** The daily limit, the busiest day's committed spend, and whether the limit line belongs on the chart. */
function budgetScale(economics) {
  const limitUsd = economics.budget.find((row) => typeof row.limitUsd === 'number')?.limitUsd ?? null;
  const peak = economics.budget.reduce((max, row) => Math.max(max, row.committedUsd), 0);
  return { limitUsd, peak, limitOnChart: limitUsd !== null && limitUsd > 0 && peak >= limitUsd * 0.2 };
}

function budgetNote(economics) {
  const { limitUsd, peak, limitOnChart } = budgetScale(economics);
  if (limitUsd === null)
    return 'Spent and reserved per day. The daily limit (cdk.json dailyBudgetUsd) could not be read.';
  const share = limitUsd > 0 ? ` (${fmtPercent(peak / limitUsd)} of it)` : '';
  const line = limitOnChart
    ? ' The dashed line is the limit.'
    : ' The limit is far above the bars, so it is not drawn.';
  return `Spent and reserved per day against a daily limit of ${fmtUsd(limitUsd)}; the busiest day committed ${fmtUsd(peak)}${share}.${line}`;
}

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

void render();
