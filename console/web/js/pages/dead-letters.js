// @ts-check
/** Dead letters: grouped by stage and error class; redrive a group or selected items, re-enrich degraded items. */

import { api, errorBox } from '../api.js';
import { confirmAction } from '../dialogs.js';
import { badge, details, h, itemPath, link, panel, table } from '../dom.js';
import { byClassText, fmtCount, plural, sumValues } from '../format.js';
import { pipeline } from '../pipeline.js';

/** Item ids listed per dead-letter group before the rest are summarised. */
const GROUP_LIST_LIMIT = 100;

/** @typedef {import('../types.js').DeadLetterGroup} DeadLetterGroup */
/** @typedef {import('../types.js').RedriveReport} RedriveReport */
/** @typedef {import('../types.js').RedriveMoves} RedriveMoves */
/** @typedef {import('../types.js').ReenrichReport} ReenrichReport */
/**
 * What a redrive moves: a group's stage and error class, or the items selected.
 * @typedef {{ stage: string, errorClass: string, itemIds?: undefined } | { itemIds: string[], stage?: undefined, errorClass?: undefined }} RedriveFilter
 */

/**
 * Draws the dead-letter groups, with their redrive actions and re-enrichment.
 * @param {import('../router.js').View} view
 */
export async function renderDeadLetters(view) {
  /** @type {Set<string>} */
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
      const report = /** @type {import('../types.js').DeadLetterGroups} */ (await api('/api/dead-letters'));
      if (!view.alive()) return;
      const present = new Set(report.groups.flatMap((group) => group.itemIds));
      for (const id of [...selected]) if (!present.has(id)) selected.delete(id);
      body.replaceChildren(...deadLetterGroups(report, selected, updateSelection, redriveGroup));
      updateSelection();
    } catch (error) {
      if (view.alive()) body.replaceChildren(errorBox(error, 'The dead letters could not be read.'));
    }
  };

  /** @param {Node} node */
  const showResult = (node) => {
    if (view.alive()) resultSlot.replaceChildren(node);
  };

  /** @param {DeadLetterGroup} group */
  async function redriveGroup(group) {
    /** @type {RedriveFilter} */
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

/**
 * @param {import('../types.js').DeadLetterGroups} report
 * @param {Set<string>} selected The items ticked, kept across reloads.
 * @param {() => void} onSelection
 * @param {(group: DeadLetterGroup) => Promise<void>} redriveGroup
 * @returns {Node[]}
 */
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
      /** @type {HTMLInputElement[]} */
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

/**
 * The redrive's dry run in the dialog, then the redrive itself once confirmed.
 * @param {string} title
 * @param {RedriveFilter} filter
 * @returns {Promise<RedriveReport | undefined>}
 */
function confirmRedrive(title, filter) {
  return confirmAction({
    title,
    confirmLabel: 'Redrive',
    preview: async () => {
      // A dry run always answers message by message.
      const dryRun = /** @type {RedriveMoves} */ (
        await api('/api/redrive', { method: 'POST', body: { ...filter, dryRun: true } })
      );
      return { nodes: redrivePreview(dryRun, filter), actionable: (dryRun.moved ?? 0) > 0 };
    },
    run: async () =>
      /** @type {RedriveReport} */ (await api('/api/redrive', { method: 'POST', body: { ...filter, confirm: true } })),
  });
}

/**
 * @param {readonly import('../types.js').LaneOutcome[] | undefined} lanes
 * @param {'moved'} key
 * @param {string} verb
 */
function laneLines(lanes, key, verb) {
  return (lanes ?? [])
    .filter((lane) => sumValues(lane[key]) > 0)
    .map((lane) =>
      h(
        'li',
        { testid: `lane-${key}`, 'data-lane': lane.lane },
        `${pipeline().laneLabels[lane.lane] ?? lane.lane}: ${verb} ${sumValues(lane[key])} (${byClassText(lane[key])})`,
      ),
    );
}

/** @param {RedriveMoves} dryRun @param {RedriveFilter} filter */
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

/** @param {RedriveReport} result */
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
            `${pipeline().laneLabels[task.lane] ?? task.lane}: ${task.failure ? `FAILED: ${task.failure}` : `${task.status ?? 'started'}, ~${task.approximateToMove ?? task.depth} message(s)`}`,
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

/**
 * @param {string | undefined} since
 * @returns {Promise<ReenrichReport | undefined>}
 */
function confirmReenrich(since) {
  const base = since === undefined ? {} : { since };
  return confirmAction({
    title: 'Re-enrich degraded items',
    confirmLabel: 'Re-enrich',
    preview: async () => {
      const dryRun = /** @type {ReenrichReport} */ (
        await api('/api/reenrich', { method: 'POST', body: { ...base, dryRun: true } })
      );
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
    run: async () =>
      /** @type {ReenrichReport} */ (await api('/api/reenrich', { method: 'POST', body: { ...base, confirm: true } })),
  });
}

/** @param {ReenrichReport} result */
function reenrichResult(result) {
  return h(
    'div',
    { class: 'notice', role: 'status', testid: 'action-result', 'data-sent': result.sent },
    h('strong', {}, `Queued ${plural(result.sent ?? 0, 'item')} for a redraft with history`),
    ` (found ${fmtCount(result.found ?? 0)}).`,
  );
}
