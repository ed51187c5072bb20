import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PIPELINE } from '#functions/pipeline.ts';
import type { CostsReport } from '#ops/costs.ts';
import { errorClassOf } from '#ops/dead-letter-mover.ts';
import type { ItemChain } from '#ops/item-chain.ts';
import { peekAll, queueDepth, sendBodies } from '#ops/queue-io.ts';
import type { StatusSnapshot } from '#ops/status-snapshot.ts';
import { countItemsByState } from '#ops/table-reads.ts';
import { resolveTarget, type Target } from '#ops/target.ts';
import { LlmCallError } from '#shared/errors.ts';
import { OUTPUT_FORMATS } from '#shared/schemas.ts';
import { type ConsoleServer, startConsole } from '../../console/server.ts';
import { jsonOf, runCli, writeLocalOutputs } from '../cli/operator-support.ts';
import { launchChromium } from '../support/browser.ts';
import { startTestPipeline, TEST_CONFIG, type TestPipeline } from '../support/pipeline.ts';

/**
 * The console in Chromium against the local runtime after a run of the bundled samples: every page shows the
 * figures the CLI prints for the same stack, a redrive confirmed in the dialog moves exactly the items chosen,
 * bad requests are shown as errors in the page, every page fits a phone, the board tells when the supervisor
 * looks, and beyond loopback the printed URL opens the console. Screenshots go to test/output/console/.
 */

const SAMPLES = new URL('../../samples/items.jsonl', import.meta.url);
const SCREENSHOTS = new URL('../output/console/', import.meta.url).pathname;
/** The sample items the provider refuses (a 401) on their first call: dead letters a redrive can publish. */
const FAULTED = ['sample-001', 'sample-002'];
/** A sample that is not a valid item: dead-lettered at intake, and again after any redrive. */
const INVALID_SAMPLE = 'sample-051';
/** A sample whose first draft the reviewer rejects, so its page shows two drafts side by side. */
const REJECTED = 'sample-009';
/** A phone's screen (CSS pixels). */
const PHONE = { width: 390, height: 844 };
/** Each page, and a test id it shows once drawn. */
const PAGES = [
  ['board', '/board', 'state-count-PUBLISHED'],
  ['items', '/items', 'item-row'],
  ['item', `/items/${REJECTED}`, 'history'],
  ['dead-letters', '/dead-letters', 'dl-group'],
  ['economics', '/economics', 'cost-total'],
] as const;

describe('Console: the pages in a browser', () => {
  let pipeline: TestPipeline;
  let dir: string;
  let outputs: string;
  let target: Target;
  let server: ConsoleServer;
  let browser: Browser;
  let page: Page;
  /** Just before and just after the local runtime started. */
  let pipelineStarting = 0;
  let pipelineStarted = 0;
  /** Script errors and console errors of the page, and every response that was not a success. */
  const pageErrors: string[] = [];
  const failedResponses: string[] = [];

  const cli = async <T>(args: string[]) => {
    const run = await runCli([...args, '--json', '--outputs', outputs]);
    expect(run.code, run.stderr).toBe(0);
    return jsonOf<T>(run);
  };
  const open = async (path: string, ready: string) => {
    await page.goto(new URL(path, server.url).href);
    await page.getByTestId(ready).first().waitFor();
  };
  const text = async (testid: string) => (await page.getByTestId(testid).first().textContent())?.trim() ?? '';
  /** The raw number behind a figure the page shows formatted. */
  const value = async (testid: string, scope: Page | ReturnType<Page['getByTestId']> = page) => {
    const raw = await scope.getByTestId(testid).first().getAttribute('data-value');
    if (raw === null || raw === '') throw new Error(`${testid} carries no value`);
    return Number(raw);
  };
  const screenshot = (name: string) => page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  const settled = async () => {
    for (const output of ['IntakeQueueUrl', 'DraftQueueUrl']) {
      await until(async () => {
        const depth = await queueDepth(pipeline.dev.sqs, pipeline.outputs[output] ?? '');
        return depth.visible + depth.inFlight + depth.delayed === 0;
      });
    }
  };

  beforeAll(async () => {
    pipelineStarting = Date.now();
    pipeline = await startTestPipeline({
      simulator: { latencyMs: 0 },
      // The supervisor looks only when a test takes a look, so the board's supervisor column is known.
      supervise: false,
      config: {
        stages: {
          extract: { ...TEST_CONFIG.stages.extract, batchSize: 10, reservedConcurrency: 8, maxConcurrency: 8 },
          draft: { ...TEST_CONFIG.stages.draft, batchSize: 5, reservedConcurrency: 8, maxConcurrency: 8 },
        },
      },
    });
    pipelineStarted = Date.now();
    dir = await mkdtemp(join(tmpdir(), 'sluice-console-e2e-'));
    outputs = join(dir, 'outputs.json');
    await writeLocalOutputs(pipeline.dev, outputs);
    await mkdir(SCREENSHOTS, { recursive: true });

    // The samples as `sluice dev` runs them (the invalid ones too), two of them refused by the provider once
    // and one with its first draft rejected by the reviewer.
    for (const id of FAULTED) {
      pipeline.llm.failWhen((request) =>
        request.itemId === id
          ? new LlmCallError('provider answered 401', { status: 401, retryable: false })
          : undefined,
      );
    }
    pipeline.llm.failWhen((request) =>
      request.itemId === REJECTED && request.format.name === OUTPUT_FORMATS.review
        ? {
            content: JSON.stringify({
              verdict: 'reject',
              // Markup in data must reach the page as text.
              feedback: 'Say who measured the figure. <img src="x" data-injected="1">',
              unsupportedClaims: ['the figure in the second paragraph'],
            }),
          }
        : undefined,
    );
    const lines = (await readFile(SAMPLES, 'utf8')).split('\n').filter((line) => line.trim() !== '');
    await sendBodies(pipeline.dev.sqs, pipeline.outputs.IntakeQueueUrl ?? '', lines);
    pipeline.dev.start();
    await until(async () => {
      const counts = await countItemsByState(
        pipeline.dev.dynamo,
        pipeline.outputs.StateTableName ?? '',
        PIPELINE.states,
      );
      return (counts.PUBLISHED ?? 0) + (counts.DEAD_LETTER ?? 0) === lines.length;
    }, 60_000);
    await settled();

    target = await resolveTarget({ outputs });
    server = await startConsole({ target, port: 0 });
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1360, height: 900 } });
    page.on('pageerror', (error) => pageErrors.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      // Chromium logs each failed response as well; those are checked one by one below.
      if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) {
        pageErrors.push(`console: ${message.text()}`);
      }
    });
    page.on('response', (response) => {
      if (response.status() >= 400) failedResponses.push(`${response.status()} ${new URL(response.url()).pathname}`);
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    target?.close();
    await pipeline?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('shows on the board the item counts and queue depths `sluice status --json` reports, and refreshes it', async () => {
    // Act
    await open('/board', 'state-count-PUBLISHED');
    const status = await cli<StatusSnapshot>(['status']);

    // Assess: every state, the total and every queue, as the CLI counts them
    expect(status.items.byState).toMatchObject({ PUBLISHED: 48, DEAD_LETTER: 5 });
    for (const state of PIPELINE.states) {
      expect(await text(`state-count-${state}`), state).toBe(
        (status.items.byState[state] ?? 0).toLocaleString('en-US'),
      );
    }
    expect(await value('state-count-total')).toBe(status.items.total);
    const rows = page.getByTestId('queue-row');
    expect(await rows.count()).toBe(status.queues.length);
    for (const queue of status.queues) {
      const row = page.locator(`[data-testid="queue-row"][data-queue="${queue.queue}"]`);
      expect(await value('queue-visible', row), queue.queue).toBe(queue.visible);
      expect(await value('queue-in-flight', row), queue.queue).toBe(queue.inFlight);
    }
    expect(await page.locator('[data-testid="queue-row"][data-queue="intake DLQ"]').getAttribute('class')).toBe(
      'attention',
    );
    expect(await value('today-calls')).toBe(status.today.calls);
    for (const source of status.eventSources) {
      const row = page.locator(`[data-testid="event-source-row"][data-stage="${source.stage}"]`);
      expect(await row.getAttribute('data-state'), source.stage).toBe(source.state);
    }
    expect(status.eventSources.map((source) => source.state)).toEqual(['Enabled', 'Enabled']);
    expect(await text('alarms')).toMatch(/skipped locally/);
    expect(await text('target')).toContain(status.stack);
    expect(await text('board-updated')).toMatch(/^Updated \d\d:\d\d:\d\d UTC · refreshes every 5 s$/);
    await screenshot('board');

    // Act: a page of its own on a fake clock, five seconds on
    const clocked = await browser.newPage();
    await clocked.clock.install();
    await clocked.goto(new URL('/board', server.url).href);
    await clocked.getByTestId('state-count-PUBLISHED').waitFor();
    const again = clocked.waitForRequest((request) => request.url().endsWith('/api/status'));
    await clocked.clock.runFor(5_000);

    // Assess: it asked for the status again by itself
    expect((await again).method()).toBe('GET');
    await clocked.close();
  });

  it('lists the items by state, as many as the board counts, and finds them by id', async () => {
    // Act
    await open('/items?state=PUBLISHED', 'items-total');
    const published = Number(await page.getByTestId('items-total').getAttribute('data-total'));
    const publishedRows = await page.getByTestId('item-row').count();
    await page.getByTestId('filter-state').selectOption('DEAD_LETTER');
    await page.getByTestId('filter-apply').click();
    await page.waitForURL(/\/items\?state=DEAD_LETTER$/);
    await page.locator('[data-testid="item-row"][data-state="DEAD_LETTER"]').first().waitFor();
    const dead = await page
      .getByTestId('item-row')
      .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-item-id') ?? ''));
    const status = await cli<StatusSnapshot>(['status']);

    // Assess
    expect(published).toBe(status.items.byState.PUBLISHED);
    expect(publishedRows).toBe(status.items.byState.PUBLISHED);
    expect(dead).toHaveLength(status.items.byState.DEAD_LETTER ?? -1);
    expect(dead).toEqual(expect.arrayContaining([...FAULTED, INVALID_SAMPLE, 'sample-052']));
    await screenshot('items');

    // Act: a search by id
    await page.getByTestId('filter-state').selectOption('');
    await page.getByTestId('filter-q').fill('sample-01');
    await page.getByTestId('filter-apply').click();
    await page.waitForURL(/q=sample-01/);
    await page.locator('[data-testid="item-row"][data-item-id="sample-019"]').waitFor();

    // Assess
    const found = await page
      .getByTestId('item-row')
      .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-item-id')).sort());
    expect(found).toEqual(Array.from({ length: 10 }, (_, index) => `sample-01${index}`));
  });

  it("shows an item's whole chain as `sluice show --json` prints it, drafts side by side", async () => {
    // Act
    await open(`/items/${REJECTED}`, 'history');
    const chain = await cli<ItemChain>(['show', REJECTED]);

    // Assess: the same chain
    expect(chain.drafts.length).toBeGreaterThanOrEqual(2);
    expect(await text('item-state')).toBe(chain.item.state);
    expect(await page.getByTestId('draft').count()).toBe(chain.drafts.length);
    expect(await page.getByTestId('draft').first().getAttribute('data-verdict')).toBe('rejected');
    expect(await text('feedback')).toContain('Say who measured the figure. <img src="x" data-injected="1">');
    expect(await page.locator('[data-injected]').count()).toBe(0);
    expect(await page.locator('[data-testid="draft"][data-published="true"]').count()).toBe(1);
    expect(await page.getByTestId('call-row').count()).toBe(chain.calls.length);
    expect(await value('total-calls')).toBe(chain.totals.calls);
    expect(await value('total-cost')).toBe(chain.totals.costUsd);
    expect(await value('total-prompt')).toBe(chain.totals.promptTokens);
    expect(await page.getByTestId('history-entry').count()).toBe(chain.item.history.length);
    expect(await text('extraction-json')).toBe(JSON.stringify(chain.item.knowledge, null, 2));
    expect(await page.getByTestId('related-item').count()).toBe(chain.memory[0]?.related.length ?? 0);
    // Assess: the drafts stand side by side, not one under the other
    const boxes = await page
      .getByTestId('draft')
      .evaluateAll((drafts) => drafts.map((draft) => draft.getBoundingClientRect().top));
    expect(new Set(boxes).size).toBe(1);
    await screenshot('item');
  });

  it('shows clear errors for an unknown item and a malformed filter', async () => {
    // Act
    await open('/items/no-such-item', 'error');

    // Assess
    expect(await page.getByTestId('error').getAttribute('data-status')).toBe('404');
    expect(await text('error-message')).toMatch(/no-such-item/);
    await screenshot('item-not-found');

    // Act
    await open('/items?state=NOPE&since=yesterday', 'error');

    // Assess
    expect(await page.getByTestId('error').getAttribute('data-status')).toBe('400');
    expect(await text('error')).toMatch(/state|since/);
    await screenshot('items-bad-filter');
  });

  it('groups the dead letters as the DLQs hold them, and redrives exactly the items selected', async () => {
    // Prepare
    await settled();
    const dlq = pipeline.outputs.IntakeDeadLetterQueueUrl ?? '';
    const dryRun = await cli<{ lanes: { lane: string; moved: Record<string, number> }[] }>(['redrive', '--dry-run']);
    await open('/dead-letters', 'dl-group');

    // Assess: the groups and their counts
    const group = (errorClass: string) =>
      page.locator(`[data-testid="dl-group"][data-stage="extract"][data-error-class="${errorClass}"]`);
    expect(dryRun.lanes.find((lane) => lane.lane === 'extract')?.moved).toEqual({
      InvalidItemError: 3,
      LlmCallError: 2,
    });
    expect(await value('dl-group-count', group('InvalidItemError'))).toBe(3);
    expect(await value('dl-group-count', group('LlmCallError'))).toBe(2);
    expect(Number(await page.getByTestId('dl-total').getAttribute('data-total'))).toBe(5);
    await screenshot('dead-letters');

    // Act: select one item the provider refused and one invalid item, and look at the dry run
    await page.locator(`[data-testid="dl-select"][value="${FAULTED[0]}"]`).check();
    await page.locator(`[data-testid="dl-select"][value="${INVALID_SAMPLE}"]`).check();
    await page.getByTestId('redrive-selected').click();
    await page.getByTestId('preview-moved').waitFor();

    // Assess: the dialog says what will move, before anything moved
    expect(await value('preview-moved')).toBe(2);
    expect(await text('preview-invalid')).toMatch(/1 InvalidItemError message will fail validation again/);
    expect(await peekAll(pipeline.dev.sqs, dlq, 1)).toHaveLength(5);
    await screenshot('dead-letters-confirm');

    // Act: confirm
    await page.getByTestId('confirm-button').click();
    await page.getByTestId('action-result').waitFor();

    // Assess: exactly those two moved; the refused item is published, the invalid one is a dead letter again
    expect(await page.getByTestId('action-result').getAttribute('data-moved')).toBe('2');
    await pipeline.waitForItem(FAULTED[0] ?? '', (item) => item.state === 'PUBLISHED');
    await settled();
    let inDlq: string[] = [];
    await until(async () => {
      inDlq = (await peekAll(pipeline.dev.sqs, dlq, 1)).map(
        (message) => `${message.MessageAttributes?.itemId?.StringValue}:${errorClassOf(message)}`,
      );
      return inDlq.length === 4 && inDlq.includes(`${INVALID_SAMPLE}:InvalidItemError`);
    });
    expect(inDlq).not.toContain(`${FAULTED[0]}:LlmCallError`);
    expect(inDlq).toEqual(expect.arrayContaining([`${FAULTED[1]}:LlmCallError`, `${INVALID_SAMPLE}:InvalidItemError`]));
    expect((await pipeline.item(FAULTED[1] ?? ''))?.state).toBe('DEAD_LETTER');
    expect((await pipeline.item(INVALID_SAMPLE))?.state).toBe('DEAD_LETTER');

    // Act: the page again
    await page.getByTestId('reload').click();
    await page.locator(`[data-testid="dl-item"][data-item-id="${FAULTED[0]}"]`).waitFor({ state: 'detached' });

    // Assess
    expect(await value('dl-group-count', group('LlmCallError'))).toBe(1);
    expect(await value('dl-group-count', group('InvalidItemError'))).toBe(3);
    await screenshot('dead-letters-after-redrive');

    // Act: re-enrich, where no item was drafted without history
    await page.getByTestId('reenrich').click();
    await page.getByTestId('preview-nothing').waitFor();

    // Assess: nothing to confirm
    expect(await page.getByTestId('confirm-button').isDisabled()).toBe(true);
    await page.getByTestId('cancel-button').click();
    expect(await page.getByTestId('confirm-dialog').isVisible()).toBe(false);
  });

  it('shows the economics `sluice costs --json` reports, with charts', async () => {
    // Prepare
    await settled();

    for (const by of ['stage', 'model'] as const) {
      // Act
      await open(`/economics${by === 'stage' ? '' : `?by=${by}`}`, 'cost-total');
      const report = await cli<CostsReport>(['costs', '--by', by]);

      // Assess: every row and the totals
      const keys = await page
        .getByTestId('cost-row')
        .evaluateAll((rows) => rows.map((row) => row.getAttribute('data-key')));
      expect(keys).toEqual(report.rows.map((row) => row.key));
      for (const row of report.rows) {
        const cells = page.locator(`[data-testid="cost-row"][data-key="${row.key}"]`);
        expect(await value('cost-calls', cells)).toBe(row.calls);
        expect(await value('cost-tokens', cells)).toBe(row.tokens);
        expect(await value('cost-usd', cells)).toBe(row.costUsd);
      }
      const total = page.getByTestId('cost-total');
      expect(await value('cost-calls', total)).toBe(report.totals.calls);
      expect(await value('cost-usd', total)).toBe(report.totals.costUsd);
      expect(await value('cost-rebilled', total)).toBe(report.totals.rebilledCalls);
      expect(await value('economics-cost')).toBe(report.totals.costUsd);
    }
    const status = await cli<StatusSnapshot>(['status']);
    expect(await value('published-items')).toBe(status.items.byState.PUBLISHED);
    expect(await value('cost-per-published')).toBeCloseTo(
      (await value('economics-cost')) / (status.items.byState.PUBLISHED ?? 0),
      12,
    );
    // Assess: the charts were drawn
    const drawn = await Promise.all(
      ['chart-tokens', 'chart-cost', 'chart-budget', 'chart-rebilled'].map((testid) =>
        page.getByTestId(testid).evaluate((canvas) => {
          // In the page: Chart.js's global, and the canvas it drew on.
          const chart = (globalThis as unknown as { Chart?: { getChart(node: unknown): unknown } }).Chart;
          return (canvas as unknown as { width: number }).width > 0 && chart?.getChart(canvas) !== undefined;
        }),
      ),
    );
    expect(drawn).toEqual([true, true, true, true]);
    await screenshot('economics');
  });

  it('fits every page on a 390 px phone: nothing scrolls sideways but tables in their box, every nav link in view', async () => {
    // Prepare
    const phone = await browser.newPage({ viewport: PHONE });
    phone.on('pageerror', (error) => pageErrors.push(`phone page error: ${error.message}`));

    for (const [name, path, ready] of PAGES) {
      // Act
      await phone.goto(new URL(path, server.url).href);
      await phone.getByTestId(ready).first().waitFor();
      const layout = {
        // In the page: the width of the whole page, scrolled or not.
        scrollWidth: await phone.evaluate(
          () =>
            (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document
              .documentElement.scrollWidth,
        ),
        links: await phone.locator('nav a').evaluateAll((links) =>
          links.map((link) => {
            const box = link.getBoundingClientRect();
            return { text: link.textContent, left: box.left, right: box.right, top: box.top, bottom: box.bottom };
          }),
        ),
      };
      await phone.screenshot({ path: join(SCREENSHOTS, `phone-${name}.png`), fullPage: true });

      // Assess
      expect(layout.scrollWidth, `${path} is ${layout.scrollWidth} px wide`).toBeLessThanOrEqual(PHONE.width);
      expect(layout.links.map((link) => link.text)).toEqual(['Board', 'Items', 'Dead letters', 'Economics']);
      for (const link of layout.links) {
        expect(link.left, `${path}: ${link.text}`).toBeGreaterThanOrEqual(0);
        expect(link.right, `${path}: ${link.text}`).toBeLessThanOrEqual(PHONE.width);
        expect(link.top, `${path}: ${link.text}`).toBeGreaterThanOrEqual(0);
        expect(link.bottom, `${path}: ${link.text}`).toBeLessThanOrEqual(PHONE.height);
      }
    }
    await phone.close();
  });

  it('says on the board when the supervisor looks first, and "not running" only once a look is overdue', async () => {
    // Prepare: the supervisor has not looked yet; the runtime started when the stack says it did
    const status = await cli<StatusSnapshot>(['status']);
    const startedAt = Date.parse(status.supervisor.since ?? '');
    expect(startedAt).toBeGreaterThanOrEqual(pipelineStarting);
    expect(startedAt).toBeLessThanOrEqual(pipelineStarted);
    expect(status.supervisor.intervalSeconds).toBe(60);
    /** The supervisor column of the board, as a console whose clock reads `at` shows it. */
    const boardAt = async (at: number) => {
      const clocked = await startConsole({ target, port: 0, now: () => at });
      const board = await browser.newPage();
      await board.goto(new URL('/board', clocked.url).href);
      await board.getByTestId('event-source-row').first().waitFor();
      const cells = await board
        .locator('[data-testid="event-source-row"] td:last-child')
        .evaluateAll((nodes) => nodes.map((node) => node.textContent?.trim() ?? ''));
      await board.close();
      await clocked.close();
      return cells;
    };

    // Act and Assess: 15 s after the start, 45 s before its first look
    expect(await boardAt(startedAt + 15_000)).toEqual(['first look in 45 s', 'first look in 45 s']);
    // Act and Assess: ten minutes on, with no look
    expect(await boardAt(startedAt + 600_000)).toEqual([
      expect.stringMatching(/^not running: no look since the start at \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/),
      expect.stringMatching(/^not running: no look since the start at /),
    ]);

    // Act: a look
    await pipeline.dev.supervisor.look();
    const looked = await cli<StatusSnapshot>(['status']);
    const lookedAt = Date.parse(looked.supervisor.lastLookAt ?? '');

    // Assess: 20 s after it, the next is 40 s away; ten minutes after it, none came
    expect(await boardAt(lookedAt + 20_000)).toEqual([
      expect.stringMatching(/^looked at .*Z, nothing to do; next look in 40 s$/),
      expect.stringMatching(/^looked at .*Z, nothing to do; next look in 40 s$/),
    ]);
    expect(await boardAt(lookedAt + 600_000)).toEqual([
      expect.stringMatching(/^not running: no look since \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/),
      expect.stringMatching(/^not running: no look since /),
    ]);
  });

  it('beyond loopback, opens with the URL printed at start, keeps the token in a cookie, and refuses a browser without it', async () => {
    // Prepare
    const remote = await startConsole({ target, host: '0.0.0.0', port: 0, allowRemote: true });
    const context = await browser.newContext();
    const stranger = await browser.newContext();

    try {
      // Act: open the URL with the token, then go to another page
      const tab = await context.newPage();
      await tab.goto(remote.openUrl);
      await tab.getByTestId('state-count-PUBLISHED').waitFor();
      const address = tab.url();
      await tab.getByTestId('nav-dead-letters').click();
      await tab.getByTestId('dl-group').first().waitFor();
      const cookies = await context.cookies();
      // In the page: the cookies its scripts can read.
      const scriptSees = await tab.evaluate(
        () => (globalThis as unknown as { document: { cookie: string } }).document.cookie,
      );
      const refused = await (await stranger.newPage()).goto(new URL('/board', remote.url).href);

      // Assess: the board and the dead letters drew from the API; the token left the address bar for a cookie
      // that scripts cannot read; a browser without it is refused
      expect(remote.openUrl).toMatch(/\/\?token=[A-Za-z0-9_-]{43}$/);
      expect(new URL(address).search).toBe('');
      expect(cookies).toEqual([
        expect.objectContaining({
          name: 'sluice_console_token',
          value: remote.token,
          httpOnly: true,
          sameSite: 'Strict',
        }),
      ]);
      expect(scriptSees).toBe('');
      expect(refused?.status()).toBe(401);
      expect(await refused?.text()).toMatch(/needs its token/);
    } finally {
      await context.close();
      await stranger.close();
      await remote.close();
    }
  });

  it('raised no script error on any page, and no request failed but the bad ones the tests made', () => {
    // Assess
    expect(pageErrors).toEqual([]);
    expect(failedResponses.filter((response) => !response.endsWith('/favicon.ico'))).toEqual([
      '404 /api/items/no-such-item',
      '400 /api/items',
    ]);
  });
});

async function until(condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
