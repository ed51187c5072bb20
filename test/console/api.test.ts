import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runConsole } from '#cli/console.ts';
import { PIPELINE } from '#functions/pipeline.ts';
import type { CostsReport } from '#ops/costs.ts';
import { itemIdOf } from '#ops/dead-letter-mover.ts';
import type { ItemChain } from '#ops/item-chain.ts';
import { peekAll, sendBodies } from '#ops/queue-io.ts';
import type { RedriveReport } from '#ops/redrive.ts';
import type { StatusSnapshot } from '#ops/status-snapshot.ts';
import { countItemsByState, scanAll } from '#ops/table-reads.ts';
import { LANE_NAMES, resolveTarget, type Target } from '#ops/target.ts';
import { utcDay } from '#shared/budget.ts';
import { LlmCallError } from '#shared/errors.ts';
import type { ItemRecord } from '#shared/item-store.ts';
import type { PipelineShape } from '../../console/api.ts';
import type { EconomicsReport } from '../../console/economics.ts';
import type { DeadLetterGroups, ItemList } from '../../console/item-queries.ts';
import { type ConsoleServer, startConsole } from '../../console/server.ts';
import { jsonOf, runCli, writeLocalOutputs } from '../cli/operator-support.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';

/** The local runtime's API key: no response may carry it. */
const LOCAL_API_KEY = 'sluice-local-simulator';
/** Items whose first LLM call gets a provider's 401: dead-lettered in extract, and published once redriven. */
const FAULTED = ['fault-1', 'fault-2'];
const SAMPLES = new URL('../../samples/items.jsonl', import.meta.url);
const DAY_MS = 86_400_000;

const article = (id: string) =>
  JSON.stringify({
    id,
    title: `Example Corp news ${id}`,
    body: `Example Corp opened an office in Berlin on Tuesday (${id}), the company said in a statement.`,
  });

interface Answer<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: T;
}

describe('Console: the HTTP API over a finished local run', () => {
  let pipeline: TestPipeline;
  let dir: string;
  let outputs: string;
  let target: Target;
  let server: ConsoleServer;
  let accepted = 0;
  /** Every response body the tests received, to check that none carried a secret. */
  const seen: string[] = [];

  /** A request with node:http, so that any header (Host, Origin) can be set. */
  const call = async <T = Record<string, unknown>>(
    method: string,
    path: string,
    options: { body?: unknown; headers?: Record<string, string>; base?: string } = {},
  ): Promise<Answer<T>> => {
    const url = new URL(path, options.base ?? server.url);
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const answer = await new Promise<Omit<Answer<T>, 'json'>>((resolve, reject) => {
      const outgoing = httpRequest(
        {
          host: url.hostname,
          port: url.port,
          // A connection of its own each, so a closed console is seen as closed.
          agent: false,
          method,
          path: `${url.pathname}${url.search}`,
          headers: {
            ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
            ...options.headers,
          },
        },
        (incoming) => {
          const chunks: Buffer[] = [];
          incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
          incoming.on('end', () =>
            resolve({
              status: incoming.statusCode ?? 0,
              headers: incoming.headers,
              text: Buffer.concat(chunks).toString('utf8'),
            }),
          );
        },
      );
      outgoing.on('error', reject);
      outgoing.end(payload);
    });
    seen.push(JSON.stringify(answer.headers), answer.text);
    const isJson = String(answer.headers['content-type']).startsWith('application/json');
    return { ...answer, json: (isJson ? JSON.parse(answer.text) : undefined) as T };
  };
  const get = <T = Record<string, unknown>>(path: string) => call<T>('GET', path);
  const post = <T = Record<string, unknown>>(path: string, body: unknown) => call<T>('POST', path, { body });
  const cli = async <T>(argv: string[]) => {
    const run = await runCli([...argv, '--json', '--outputs', outputs]);
    seen.push(run.stdout);
    expect(run.code).toBe(0);
    return jsonOf<T>(run);
  };
  const items = async () =>
    (await scanAll(pipeline.dev.dynamo, pipeline.outputs.StateTableName ?? '')).filter(
      (row) => row.sk === 'ITEM',
    ) as unknown as ItemRecord[];
  const deadLetterIds = async () =>
    (await peekAll(pipeline.dev.sqs, pipeline.outputs.IntakeDeadLetterQueueUrl ?? '', 2))
      .map((message) => itemIdOf(message) ?? '')
      .sort();

  beforeAll(async () => {
    // Prepare: the bundled samples (50 publish, 3 are invalid) and two items a provider refuses once
    pipeline = await startTestPipeline({ simulator: { latencyMs: 0 } });
    dir = await mkdtemp(join(tmpdir(), 'sluice-console-'));
    outputs = join(dir, 'outputs.json');
    await writeLocalOutputs(pipeline.dev, outputs);
    for (const id of FAULTED) {
      pipeline.llm.failWhen((request) =>
        request.itemId === id
          ? new LlmCallError('provider answered 401', { status: 401, retryable: false })
          : undefined,
      );
    }
    const lines = (await readFile(SAMPLES, 'utf8')).split('\n').filter((line) => line.trim() !== '');
    accepted = lines.length + FAULTED.length;
    await sendBodies(pipeline.dev.sqs, pipeline.outputs.IntakeQueueUrl ?? '', [...lines, ...FAULTED.map(article)]);
    pipeline.dev.start();
    await waitFor(async () => {
      const byState = await countItemsByState(
        pipeline.dev.dynamo,
        pipeline.outputs.StateTableName ?? '',
        PIPELINE.states,
      );
      return (byState.PUBLISHED ?? 0) + (byState.DEAD_LETTER ?? 0) === accepted;
    }, 50_000);
    target = await resolveTarget({ outputs });
    server = await startConsole({ target });
  }, 80_000);

  afterAll(async () => {
    await server?.close();
    target?.close();
    await pipeline?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  describe('Route: GET /api/pipeline', () => {
    it('answers the item states, the stages and a label for every stage, as the pipeline defines them', async () => {
      // Act
      const answer = await get<PipelineShape>('/api/pipeline');
      const withQuery = await get('/api/pipeline?state=PUBLISHED');

      // Assess
      expect(answer.status).toBe(200);
      expect(answer.json.itemStates).toEqual([...PIPELINE.states]);
      expect(answer.json.stages).toEqual([...LANE_NAMES]);
      expect(Object.keys(answer.json.laneLabels).sort()).toEqual([...LANE_NAMES].sort());
      expect(answer.json.laneLabels.extract).toBe('intake DLQ → intake queue');
      expect(withQuery.status).toBe(400);
      expect(withQuery.json).toMatchObject({ parameter: 'state' });
    });
  });

  describe('Route: GET /api/status', () => {
    it('answers what sluice status --json prints', async () => {
      // Act
      const answer = await get<StatusSnapshot>('/api/status');
      const printed = await cli<StatusSnapshot>(['status']);

      // Assess: the same snapshot, but for the clock and the age of the DLQs' oldest messages
      expect(answer.status).toBe(200);
      expect(withoutClock(answer.json)).toEqual(withoutClock(printed));
      expect(answer.json.items.byState).toMatchObject({ PUBLISHED: 50, DEAD_LETTER: 5 });
      expect(answer.json.queues.find((queue) => queue.queue === 'intake DLQ')?.visible).toBe(5);
    });
  });

  describe('Route: GET /api/items/:id', () => {
    it('answers what sluice show --json prints, for a published and a dead-lettered item', async () => {
      for (const id of ['sample-001', 'fault-1', 'sample-051']) {
        // Act
        const answer = await get<ItemChain>(`/api/items/${id}`);

        // Assess
        expect(answer.status).toBe(200);
        expect(answer.json).toEqual(await cli<ItemChain>(['show', id]));
      }
      const published = await get<ItemChain>('/api/items/sample-001');
      expect(published.json.item.state).toBe('PUBLISHED');
      expect(published.json.calls.length).toBeGreaterThanOrEqual(3);
    });

    it('answers 404 with the reason for an unknown id, and 400 for an id no item can have', async () => {
      // Act
      const answer = await get('/api/items/no-such-item');
      const malformed = await get('/api/items/no%2Fsuch%20item');

      // Assess
      expect(answer.status).toBe(404);
      expect(answer.json.error).toMatch(/no item 'no-such-item' in the state table/);
      expect(malformed.status).toBe(400);
      expect(malformed.json.error).toMatch(/^id must be 1-128 characters .*\(got no\/such item\)$/);
    });
  });

  describe('Route: GET /api/costs', () => {
    it('answers what sluice costs --json prints, by stage, model and day', async () => {
      const since = utcDay(Date.now() - 2 * DAY_MS);
      for (const by of ['stage', 'model', 'day']) {
        // Act
        const answer = await get<CostsReport>(`/api/costs?since=${since}&by=${by}`);

        // Assess
        expect(answer.status).toBe(200);
        expect(answer.json).toEqual(await cli<CostsReport>(['costs', '--since', since, '--by', by]));
        expect(answer.json.totals.calls).toBeGreaterThanOrEqual(150);
      }
      // Assess: the default window is the CLI's too
      expect((await get<CostsReport>('/api/costs')).json).toEqual(await cli<CostsReport>(['costs']));
    });
  });

  describe('Route: GET /api/items', () => {
    it('lists every item, newest first, as the state table holds them', async () => {
      // Act
      const answer = await get<ItemList>('/api/items?limit=1000');

      // Assess
      const records = await items();
      expect(answer.status).toBe(200);
      expect(answer.json).toMatchObject({ total: accepted, truncated: false });
      expect(answer.json.items.map((item) => item.itemId).sort()).toEqual(records.map((r) => r.itemId).sort());
      const updated = answer.json.items.map((item) => item.updatedAt);
      expect(updated).toEqual([...updated].sort().reverse());
      const record = records.find((r) => r.itemId === 'sample-001');
      expect(answer.json.items.find((item) => item.itemId === 'sample-001')).toEqual({
        itemId: 'sample-001',
        state: 'PUBLISHED',
        stage: 'published',
        degraded: (record?.degraded ?? []).length > 0,
        attempts: 0,
        updatedAt: record?.updatedAt,
        title: record?.input?.title,
      });
    });

    it('selects by state, stage, error class, degraded, date and id, and cuts the list at limit', async () => {
      // Prepare
      const records = await items();
      const today = utcDay(Date.now());
      const ids = async (query: string) => {
        const answer = await get<ItemList>(`/api/items?${query}`);
        expect(answer.status, query).toBe(200);
        return answer.json.items.map((item) => item.itemId).sort();
      };

      // Act and Assess
      expect(await ids('state=DEAD_LETTER')).toEqual(
        records
          .filter((r) => r.state === 'DEAD_LETTER')
          .map((r) => r.itemId)
          .sort(),
      );
      expect(await ids('stage=extract&errorClass=LlmCallError')).toEqual(FAULTED);
      expect(await ids('stage=draft')).toEqual([]);
      expect(await ids('errorClass=InvalidItemError&state=&q=')).toHaveLength(3);
      expect(await ids('degraded=false&limit=1000')).toEqual(
        records
          .filter((r) => (r.degraded ?? []).length === 0)
          .map((r) => r.itemId)
          .sort(),
      );
      expect(await ids('q=SAMPLE-04')).toEqual(Array.from({ length: 10 }, (_, n) => `sample-04${n}`));
      expect(await ids(`since=${today}&until=${today}&q=fault`)).toEqual(FAULTED);
      expect(await ids(`since=${utcDay(Date.now() + DAY_MS)}`)).toEqual([]);
      expect(await ids(`until=${utcDay(Date.now() - DAY_MS)}`)).toEqual([]);
      const cut = await get<ItemList>('/api/items?state=PUBLISHED&limit=7');
      expect(cut.json).toMatchObject({ total: 50, truncated: true });
      expect(cut.json.items).toHaveLength(7);
      expect((await get<ItemList>('/api/items')).json.items).toHaveLength(accepted);
    });

    it.each([
      ['state=FOO', 'state', /state must be one of RECEIVED, .*DEAD_LETTER, DISCARDED \(got 'FOO'\)/],
      ['stage=review', 'stage', /stage must be one of extract, draft, published/],
      ['degraded=yes', 'degraded', /degraded must be one of true, false/],
      ['since=2026-02-30', 'since', /since must be a day, YYYY-MM-DD/],
      ['until=yesterday', 'until', /until must be a day, YYYY-MM-DD/],
      ['since=2026-03-02&until=2026-03-01', 'since', /since \(2026-03-02\) is after until/],
      ['limit=0', 'limit', /limit must be a whole number from 1 to 1000/],
      ['limit=1001', 'limit', /limit must be a whole number from 1 to 1000/],
      ['limit=ten', 'limit', /limit must be a whole number/],
      ['color=red', 'color', /unknown parameter 'color': this endpoint takes state, stage, degraded/],
      ['state=PUBLISHED&state=DEAD_LETTER', 'state', /given 2 times/],
    ])('refuses %s with 400 naming the parameter', async (query, parameter, message) => {
      // Act
      const answer = await get(`/api/items?${query}`);

      // Assess
      expect(answer.status).toBe(400);
      expect(answer.json).toMatchObject({ parameter, error: expect.stringMatching(message) });
    });
  });

  describe('Route: GET /api/dead-letters', () => {
    it('groups the dead-lettered items by stage and error class, as the DLQs hold them', async () => {
      // Act
      const answer = await get<DeadLetterGroups>('/api/dead-letters');
      const dryRun = await cli<Exclude<RedriveReport, { mode: 'move-task' }>>(['redrive', '--dry-run']);

      // Assess: the groups
      expect(answer.status).toBe(200);
      expect(answer.json.total).toBe(5);
      expect(answer.json.groups.map(({ stage, errorClass, count }) => ({ stage, errorClass, count }))).toEqual([
        { stage: 'extract', errorClass: 'InvalidItemError', count: 3 },
        { stage: 'extract', errorClass: 'LlmCallError', count: 2 },
      ]);
      const faulted = answer.json.groups[1];
      expect([...(faulted?.itemIds ?? [])].sort()).toEqual(FAULTED);
      expect(faulted?.sample).toEqual({ itemId: expect.stringMatching(/^fault-/), message: 'provider answered 401' });
      // Assess: the same items and classes as the DLQs' messages
      const counts = Object.fromEntries(answer.json.groups.map((group) => [group.errorClass, group.count]));
      expect(dryRun.lanes.find((lane) => lane.lane === 'extract')?.moved).toEqual(counts);
      expect(answer.json.groups.flatMap((group) => group.itemIds).sort()).toEqual(await deadLetterIds());
    });
  });

  describe('Route: GET /api/economics', () => {
    it('adds up to what sluice costs reports, with the budget of every day and the cost per published item', async () => {
      // Prepare
      const since = utcDay(Date.now() - 6 * DAY_MS);

      // Act
      const answer = await get<EconomicsReport>(`/api/economics?since=${since}`);
      const costs = await cli<CostsReport>(['costs', '--since', since, '--by', 'day']);

      // Assess
      const report = answer.json;
      expect(answer.status).toBe(200);
      expect(report.days).toHaveLength(7);
      expect(report.budget.map((entry) => entry.day)).toEqual(report.days);
      expect(report.costUsd).toBe(costs.totals.costUsd);
      expect(report.series.reduce((sum, point) => sum + point.calls, 0)).toBe(costs.totals.calls);
      expect(report.series.reduce((sum, point) => sum + point.promptTokens, 0)).toBe(costs.totals.promptTokens);
      expect(report.rebilledCalls).toBe(costs.totals.rebilledCalls);
      expect(new Set(report.series.map((point) => point.stage))).toEqual(new Set(['extract', 'draft']));
      expect(report.publishedItems).toBe(50);
      expect(report.costPerPublishedItemUsd).toBeCloseTo(costs.totals.costUsd / 50, 12);
      const today = report.budget.at(-1);
      expect(today?.limitUsd).toBeGreaterThan(0);
      expect(today?.spentUsd).toBeCloseTo(costs.totals.costUsd, 9);
    });

    it('refuses a span longer than the CLI reads', async () => {
      // Act
      const answer = await get('/api/economics?since=2020-01-01');

      // Assess
      expect(answer.status).toBe(400);
      expect(answer.json).toMatchObject({ parameter: 'since', error: expect.stringMatching(/at most 400 days/) });
    });
  });

  describe('Route: POST /api/reenrich', () => {
    it('answers a dry run with what sluice reenrich --dry-run --json prints, and refuses without confirmation', async () => {
      // Act
      const dryRun = await post('/api/reenrich', { dryRun: true });
      const refused = await post('/api/reenrich', {});

      // Assess
      expect(dryRun.status).toBe(200);
      expect(dryRun.json).toEqual(await cli(['reenrich', '--dry-run']));
      expect(refused.status).toBe(400);
      expect(refused.json).toMatchObject({ confirmationRequired: true, error: expect.stringMatching(/confirmation/) });
    });
  });

  describe('Route: POST /api/redrive', () => {
    it('refuses an action without confirmation, and moves nothing', async () => {
      // Act
      const answers = await Promise.all([
        post('/api/redrive', { itemIds: ['fault-1'] }),
        post('/api/redrive', { confirm: false, stage: 'extract' }),
      ]);

      // Assess
      for (const answer of answers) {
        expect(answer.status).toBe(400);
        expect(answer.json).toMatchObject({
          confirmationRequired: true,
          error: expect.stringMatching(/confirmation required: send "confirm": true/),
        });
      }
      expect(await deadLetterIds()).toHaveLength(5);
    });

    it.each([
      [{ confirm: true, stage: 'review' }, /stage must be one of extract, draft, published/],
      [{ confirm: true, itemIds: [] }, /itemIds must name at least one item/],
      [{ confirm: true, itemIds: 'fault-1' }, /itemIds must be an array of item ids/],
      [{ confirm: true, everything: true }, /unknown field\(s\) everything/],
      [['fault-1'], /the body must be a JSON object/],
    ])('refuses the body %j with 400', async (body, message) => {
      // Act
      const answer = await post('/api/redrive', body);

      // Assess
      expect(answer.status).toBe(400);
      expect(answer.json.error).toMatch(message);
    });

    it('answers a dry run with what sluice redrive --dry-run --json prints, and moves nothing', async () => {
      // Act
      const answer = await post<RedriveReport>('/api/redrive', { dryRun: true });
      const selected = await post<RedriveReport>('/api/redrive', { dryRun: true, itemIds: FAULTED, stage: 'extract' });

      // Assess
      expect(answer.status).toBe(200);
      expect(answer.json).toEqual(await cli<RedriveReport>(['redrive', '--dry-run']));
      expect(selected.json).toMatchObject({ mode: 'dry-run', moved: 2, left: 3 });
      expect(await deadLetterIds()).toHaveLength(5);
    });

    it('moves exactly the dead letters of the items selected, and those items get published', async () => {
      // Act
      const answer = await post<RedriveReport>('/api/redrive', { confirm: true, itemIds: ['fault-1'] });
      const redriven = await pipeline.waitForItem('fault-1', (item) => item.state === 'PUBLISHED');

      // Assess: the report
      expect(answer.status).toBe(200);
      expect(answer.json).toMatchObject({
        mode: 'moved',
        moved: 1,
        left: 4,
        failed: 0,
        filter: { itemIds: ['fault-1'] },
      });
      // Assess: it resumed with a fresh failure budget; the others are still dead letters, in the DLQ
      expect(redriven.attempts.extract).toBe(0);
      expect((await pipeline.item('fault-2'))?.state).toBe('DEAD_LETTER');
      const left = await deadLetterIds();
      expect(left).toHaveLength(4);
      expect(left).toContain('fault-2');
      expect(left).not.toContain('fault-1');
      expect((await get<DeadLetterGroups>('/api/dead-letters')).json.total).toBe(4);
    });
  });

  describe('Server: routes, headers and static files', () => {
    let pages: string;
    let paged: ConsoleServer;

    beforeAll(async () => {
      pages = join(dir, 'web');
      await mkdir(pages);
      await writeFile(
        join(pages, 'index.html'),
        '<!doctype html><title>sluice</title><script src="/assets/app.js" type="module"></script>',
      );
      await writeFile(join(pages, 'app.js'), 'export {};\n');
      await mkdir(join(pages, 'js', 'pages'), { recursive: true });
      await writeFile(join(pages, 'js', 'pages', 'board.js'), 'export {};\n');
      await writeFile(join(pages, 'styles.css'), 'body { margin: 0 }\n');
      paged = await startConsole({ target, webRoot: pages });
    });

    afterAll(async () => {
      await paged?.close();
    });

    it('answers every page route with the single page, and the assets with their type', async () => {
      for (const path of ['/', '/board', '/items', '/items/sample-001', '/dead-letters', '/economics', '/items/']) {
        // Act
        const answer = await call('GET', path, { base: paged.url });

        // Assess
        expect(answer.status, path).toBe(200);
        expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
        expect(answer.text).toMatch(/^<!doctype html>/);
      }
      const types = {
        '/assets/app.js': 'text/javascript; charset=utf-8',
        '/assets/js/pages/board.js': 'text/javascript; charset=utf-8',
        '/assets/styles.css': 'text/css; charset=utf-8',
        '/assets/chart.umd.min.js': 'text/javascript; charset=utf-8',
      };
      for (const [path, type] of Object.entries(types)) {
        const answer = await call('GET', path, { base: paged.url });
        expect(answer.status, path).toBe(200);
        expect(answer.headers['content-type']).toBe(type);
      }
      const chart = await call('GET', '/assets/chart.umd.min.js', { base: paged.url });
      expect(chart.text).toMatch(/Chart/);
      expect(chart.text.length).toBeGreaterThan(100_000);
    });

    it('says the pages are missing while they are, and serves nothing outside its folder', async () => {
      // Prepare
      const empty = await startConsole({ target, webRoot: join(dir, 'no-pages') });

      // Act
      const missing = await call('GET', '/board', { base: empty.url });
      await empty.close();
      const escapes = await Promise.all(
        [
          '/assets/..%2Foutputs.json',
          '/assets/%2e%2e%2foutputs.json',
          '/assets/../outputs.json',
          '/assets/.env',
          '/assets/js/..%2F..%2Foutputs.json',
          '/assets/js/.hidden/board.js',
        ].map((path) => call('GET', path, { base: paged.url })),
      );

      // Assess
      expect(missing.status).toBe(404);
      expect(missing.json).toEqual({ error: "the console's pages are missing (no console/web/index.html)" });
      for (const attempt of escapes) {
        expect(attempt.status).toBe(404);
        expect(attempt.text).not.toMatch(/StateTableName/);
      }
    });

    it('answers 404 for an unknown route and 405 for a wrong method, as JSON', async () => {
      // Act
      const unknownApi = await get('/api/queues');
      const unknownPage = await get('/settings');
      const wrongApi = await call('DELETE', '/api/items/sample-001');
      const getAction = await get('/api/redrive');
      const postPage = await call('POST', '/board', { body: {} });

      // Assess
      expect(unknownApi).toMatchObject({ status: 404, json: { error: 'no API route /api/queues' } });
      expect(unknownPage.status).toBe(404);
      expect(unknownPage.json.error).toMatch(/no page \/settings: the pages are/);
      expect(wrongApi).toMatchObject({ status: 405, headers: { allow: 'GET, HEAD' } });
      expect(getAction).toMatchObject({ status: 405, headers: { allow: 'POST' } });
      expect(getAction.json.error).toMatch(/GET is not allowed on \/api\/redrive: use POST/);
      expect(postPage.status).toBe(405);
    });

    it('sends no-store and a strict content security policy with every response', async () => {
      // Act
      const answers = await Promise.all([
        get('/api/status'),
        get('/api/items/none'),
        get('/nowhere'),
        call('GET', '/', { base: paged.url }),
        call('GET', '/assets/chart.umd.min.js', { base: paged.url }),
      ]);

      // Assess
      for (const answer of answers) {
        expect(answer.headers['cache-control']).toBe('no-store');
        expect(answer.headers['content-security-policy']).toMatch(/^default-src 'self';/);
        expect(answer.headers['x-content-type-options']).toBe('nosniff');
      }
    });

    it('refuses requests for another host name, cross-site posts and posts that are not JSON', async () => {
      // Act
      const rebound = await call('GET', '/api/status', { headers: { host: 'attacker.example:80' } });
      const crossSite = await call('POST', '/api/redrive', {
        body: { confirm: true },
        headers: { origin: 'http://attacker.example' },
      });
      const form = await call('POST', '/api/redrive', {
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      });
      const notJson = await call('POST', '/api/redrive', { headers: { 'content-type': 'application/json' } });

      // Assess
      expect(rebound.status).toBe(403);
      expect(rebound.json.error).toMatch(/answers only to localhost and 127\.0\.0\.1/);
      expect(crossSite.status).toBe(403);
      expect(form.status).toBe(415);
      expect(notJson.status).toBe(400);
      expect(await deadLetterIds()).toHaveLength(4);
    });
  });

  describe('Server: beyond loopback, a token and allowed host names', () => {
    let remote: ConsoleServer;
    let token: string;
    /** A request to the remote console for `host`, with `headers`; the DLQ must hold what it held. */
    const to = <T = Record<string, unknown>>(
      method: string,
      path: string,
      host: string,
      headers: Record<string, string> = {},
      body?: unknown,
    ) => call<T>(method, path, { base: remote.url, body, headers: { host, ...headers } });
    const bearer = () => ({ authorization: `Bearer ${token}` });
    const redrive = { confirm: true, itemIds: ['fault-2'] };

    beforeAll(async () => {
      remote = await startConsole({ target, host: '0.0.0.0', allowRemote: true, allowedHosts: ['Console.Example'] });
      token = remote.token ?? '';
    });

    afterAll(async () => {
      await remote?.close();
    });

    it('makes a random token at start and gives the URL that sets it', async () => {
      // Prepare
      const another = await startConsole({ target, host: '0.0.0.0', allowRemote: true });
      const loopback = await startConsole({ target });
      await Promise.all([another.close(), loopback.close()]);

      // Assess
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(another.token).not.toBe(token);
      expect(remote.openUrl).toBe(`${remote.url}?token=${token}`);
      expect(loopback.token).toBeUndefined();
      expect(loopback.openUrl).toBe(loopback.url);
    });

    it('refuses a DNS-rebinding request (Host: evil.example), even with the token, on a read and on a redrive', async () => {
      // Act
      const read = await to('GET', '/api/status', 'evil.example', bearer());
      const page = await to('GET', '/board', 'evil.example:4310');
      const moved = await to(
        'POST',
        '/api/redrive',
        'evil.example',
        { ...bearer(), origin: 'http://evil.example' },
        redrive,
      );

      // Assess
      for (const answer of [read, page, moved]) {
        expect(answer.status).toBe(403);
        expect(answer.json.error).toMatch(/answers only to loopback and its allowed host names .*'evil\.example/);
      }
      expect(await deadLetterIds()).toContain('fault-2');
    });

    it.each([
      ['no token', {}, /needs its token: open the URL 'sluice console' printed at start/],
      ['a wrong token', { authorization: 'Bearer not-the-token' }, /the token is wrong/],
      ['a wrong cookie', { cookie: 'sluice_console_token=not-the-token' }, /the token is wrong/],
    ])('answers 401 to %s, on a read, a page and a redrive, and moves nothing', async (_, headers, message) => {
      // Act
      const read = await to('GET', '/api/status', 'console.example:4310', headers);
      const page = await to('GET', '/assets/app.js', '127.0.0.1', headers);
      const moved = await to('POST', '/api/redrive', 'localhost', headers, redrive);

      // Assess
      for (const answer of [read, page, moved]) {
        expect(answer.status).toBe(401);
        expect(answer.headers['www-authenticate']).toBe('Bearer realm="sluice console"');
        expect(answer.json.error).toMatch(message);
      }
      expect(await deadLetterIds()).toContain('fault-2');
    });

    it('serves a read and a redrive that carry the token, for an allowed name or a loopback one', async () => {
      // Act
      const read = await to<StatusSnapshot>('GET', '/api/status', 'CONSOLE.example:4310', bearer());
      const viaLoopback = await to('GET', '/api/dead-letters', '127.0.0.1:4310', bearer());
      const dryRun = await to<RedriveReport>(
        'POST',
        '/api/redrive',
        'console.example:4310',
        { ...bearer(), origin: 'http://console.example:4310' },
        { dryRun: true, itemIds: ['fault-2'] },
      );

      // Assess
      expect(read.status).toBe(200);
      expect(read.json.stack).toBe(target.stackName);
      expect(viaLoopback.status).toBe(200);
      expect(dryRun.status).toBe(200);
      expect(dryRun.json).toMatchObject({ mode: 'dry-run', moved: 1 });
    });

    it('refuses a redrive with the token whose Origin is not an allowed name on this port', async () => {
      // Act
      const answers = await Promise.all(
        ['http://evil.example', 'http://console.example:9999', 'null'].map((origin) =>
          to('POST', '/api/redrive', 'console.example:4310', { ...bearer(), origin }, redrive),
        ),
      );

      // Assess
      for (const answer of answers) {
        expect(answer.status).toBe(403);
        expect(answer.json.error).toMatch(/cross-site request refused/);
      }
      expect(await deadLetterIds()).toContain('fault-2');
    });

    it('sets an HttpOnly, SameSite=Strict cookie for /?token=, which then stands for the token', async () => {
      // Act
      const opened = await to('GET', `/items?state=DEAD_LETTER&token=${token}`, 'console.example:4310');
      const cookie = String(opened.headers['set-cookie']).split(';')[0] ?? '';
      const read = await to('GET', '/api/status', 'console.example:4310', { cookie: `theme=dark; ${cookie}` });
      const wrong = await to('GET', '/?token=guessed', 'console.example:4310');

      // Assess
      expect(opened.status).toBe(303);
      expect(opened.headers.location).toBe('/items?state=DEAD_LETTER');
      expect(opened.headers['set-cookie']).toEqual([
        `sluice_console_token=${token}; Path=/; HttpOnly; SameSite=Strict`,
      ]);
      expect(read.status).toBe(200);
      expect(wrong.status).toBe(401);
      expect(wrong.headers['set-cookie']).toBeUndefined();
      expect(wrong.json.error).toMatch(/the token in the address is wrong/);
    });

    it('prints the URL with the token once at start, and the token in --json', async () => {
      // Prepare
      const stop = new AbortController();
      let printed = '';
      const { promise: listening, resolve } = Promise.withResolvers<void>();
      const io = {
        out: {
          write: (text: string) => {
            printed += text;
            if (printed.includes('Ctrl-C')) resolve();
            return true;
          },
        },
        err: { write: () => true },
      };

      // Act
      const running = runConsole(
        ['--host', '0.0.0.0', '--allow-remote', '--allow-host', 'console.example', '--port', '0', '--outputs', outputs],
        io,
        stop.signal,
      );
      await listening;
      const url = /open (http:\/\/\S+)/.exec(printed)?.[1] ?? '';
      const opened = await call('GET', url, { headers: { host: 'console.example' } });
      stop.abort();
      await running;

      // Assess
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{43}$/);
      expect(printed).toMatch(/answering to localhost, 127\.0\.0\.1, ::1, console\.example/);
      expect(opened.status).toBe(303);
    });
  });

  describe('Function: startConsole and command: sluice console', () => {
    it('refuses a host beyond loopback unless remote access is allowed', async () => {
      // Act
      const refused = await startConsole({ target, host: '0.0.0.0' }).catch((error: Error) => error);
      const cliRefused = await runCli(['console', '--host', '0.0.0.0', '--outputs', outputs]);
      const allowed = await startConsole({
        target,
        host: '0.0.0.0',
        allowRemote: true,
        allowedHosts: ['console.example'],
      });
      const answer = await call('GET', '/api/items?limit=1', {
        base: allowed.url,
        headers: { host: 'console.example:4310', authorization: `Bearer ${allowed.token}` },
      });
      await allowed.close();

      // Assess
      expect(refused).toBeInstanceOf(Error);
      expect((refused as Error).message).toMatch(/refusing to listen on 0\.0\.0\.0: .*Use allowRemote: true/);
      expect(cliRefused.code).toBe(2);
      expect(cliRefused.stderr).toMatch(/sluice console: refusing to listen on 0\.0\.0\.0: .*Use --allow-remote to/);
      expect(answer.status).toBe(200);
    });

    it.each([
      [
        ['--allow-host', 'http://console.example'],
        /--allow-host must name a host, .*\(got 'http:\/\/console\.example'\)/,
      ],
      [['--allow-host', 'console.example:4310'], /--allow-host must name a host/],
      [['--allow-host', 'bad_name!'], /--allow-host must name a host/],
    ])('refuses %j with exit code 2 and a line naming it', async (flags, message) => {
      // Act
      const run = await runCli(['console', '--host', '0.0.0.0', '--allow-remote', ...flags, '--outputs', outputs]);

      // Assess
      expect(run.code).toBe(2);
      expect(run.stderr.split('\n')[0]).toMatch(message);
      expect(run.stderr).toMatch(/Run 'sluice console --help' for usage/);
    });

    it('refuses --allow-host on loopback, where the console answers to loopback names only', async () => {
      // Act
      const run = await runCli(['console', '--allow-host', 'console.example', '--outputs', outputs]);

      // Assess
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/--allow-host applies beyond this machine only/);
    });

    it('prints the URL it serves on, and serves until stopped', async () => {
      // Prepare: an output that tells when the URL is printed
      const stop = new AbortController();
      let url = '';
      const { promise: listening, resolve } = Promise.withResolvers<void>();
      const io = {
        out: {
          write: (text: string) => {
            url = (JSON.parse(text) as { url: string }).url;
            resolve();
            return true;
          },
        },
        err: { write: () => true },
      };

      // Act
      const running = runConsole(['--port', '0', '--json', '--outputs', outputs], io, stop.signal);
      await listening;
      const answer = await call('GET', '/api/dead-letters', { base: url });
      stop.abort();
      const code = await running;

      // Assess
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
      expect(answer.status).toBe(200);
      expect(code).toBe(0);
      await expect(call('GET', '/api/status', { base: url })).rejects.toThrow(/ECONNREFUSED/);
    });
  });

  describe('Secrets', () => {
    it('sent neither the API key nor the secret ARN in any response', () => {
      // Assess
      const arn = pipeline.outputs.ApiKeySecretArn ?? '';
      expect(seen.length).toBeGreaterThan(50);
      for (const text of seen) {
        expect(text).not.toContain(LOCAL_API_KEY);
        if (arn !== '') expect(text).not.toContain(arn);
      }
    });
  });
});

/**
 * The snapshot without what changes between two reads of a quiet stack: the clock, the DLQs' ages and how far
 * the limiters' schedules run ahead of the clock.
 */
function withoutClock(snapshot: StatusSnapshot) {
  return {
    ...snapshot,
    at: undefined,
    queues: snapshot.queues.map((queue) => ({
      ...queue,
      oldestAgeSeconds: queue.oldestAgeSeconds === null ? null : 'some',
    })),
    limiters: snapshot.limiters.map(({ requestsAheadMs: _requests, tokensAheadMs: _tokens, ...limiter }) => limiter),
  };
}

async function waitFor(condition: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
