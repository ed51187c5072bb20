// @ts-check
/** Item: the whole chain of one item. */

import { ApiError, api, errorBox } from '../api.js';
import { badge, details, h, itemPath, jsonBlock, link, num, panel, stateBadge, table } from '../dom.js';
import { fmtCount, fmtDuration, fmtTime, fmtUsd, plural } from '../format.js';

/** @typedef {import('../types.js').ItemChain} ItemChain */
/** @typedef {import('../types.js').ItemRecord} ItemRecord */

/**
 * Draws the whole chain of the item the address names.
 * @param {import('../router.js').View} view
 * @param {RegExpExecArray} match The item id, percent-encoded, in match[1].
 */
export async function renderItem(view, match) {
  let itemId;
  try {
    itemId = decodeURIComponent(match[1] ?? '');
  } catch {
    view.show(
      h('div', { class: 'page-head' }, h('h1', {}, 'Item')),
      errorBox(new ApiError(400, `'${match[1]}' is not a valid item address`)),
    );
    return;
  }
  const back = h('p', {}, link('/items', '← All items'));
  try {
    const chain = /** @type {ItemChain} */ (await api(`/api/items/${encodeURIComponent(itemId)}`));
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

/** @param {ItemChain} chain @returns {Node[]} */
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

/** A link for a web address; anything else as text. @param {string} url */
function externalLink(url) {
  return /^https?:\/\//i.test(url) ? h('a', { href: url, rel: 'noopener noreferrer', target: '_blank' }, url) : url;
}

/** @param {ItemRecord} item */
function inputPanel(item) {
  const input = item.input;
  if (input) {
    /** @type {[string, string][]} */
    const rows = [['title', input.title]];
    for (const key of /** @type {const} */ (['url', 'source', 'author', 'publishedAt'])) {
      const text = input[key];
      if (text !== undefined) rows.push([key, text]);
    }
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

/** @param {ItemRecord} item */
function extractionPanel(item) {
  if (!item.knowledge) return panel('Extraction', h('p', { class: 'muted', testid: 'extraction' }, 'None yet.'));
  return panel(
    'Extraction',
    details('knowledge (JSON)', jsonBlock(item.knowledge, 'extraction-json'), { open: true, testid: 'extraction' }),
  );
}

/** @param {ItemChain} chain */
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

/** @param {ItemChain} chain */
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
                (review.unsupportedClaims ?? []).length > 0
                  ? h(
                      'ul',
                      {},
                      (review.unsupportedClaims ?? []).map((claim) => h('li', {}, `unsupported: ${claim}`)),
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

/** @param {ItemChain} chain */
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

/** @param {string} label @param {import('../types.js').Failure} failure @param {string} tone */
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

/** @param {ItemRecord} item */
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

/** @param {ItemRecord} item */
function historyPanel(item) {
  const history = item.history ?? [];
  const [first] = history;
  if (first === undefined) return panel('History', h('p', { class: 'muted' }, 'No state change recorded.'));
  const start = Date.parse(first.at);
  return panel(
    'History',
    h(
      'ol',
      { class: 'timeline', testid: 'history' },
      history.map((change, index) => {
        const at = Date.parse(change.at);
        const previous = Date.parse(history[index - 1]?.at ?? change.at);
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
