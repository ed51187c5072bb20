import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PIPELINE } from '#functions/pipeline.ts';
import type { CostsReport } from '#ops/costs.ts';
import type { ItemChain } from '#ops/item-chain.ts';
import type { StatusSnapshot } from '#ops/status-snapshot.ts';
import { OUTPUT_FORMATS } from '#shared/schemas.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';
import { jsonOf, runCli, writeLocalOutputs } from './operator-support.ts';

const article = (id: string, title: string) =>
  JSON.stringify({
    id,
    title,
    body:
      `${title}. The announcement was made on Tuesday by Example Corp in Berlin. ` +
      'Engineers said the cloud platform now serves 40 percent more requests than last year.',
  });

const DAY_MS = 86_400_000;
const day = (daysAgo: number) => new Date(Date.now() - daysAgo * DAY_MS).toISOString().slice(0, 10);

describe('Commands: sluice status, costs and show', () => {
  let pipeline: TestPipeline;
  let dir: string;
  let outputs: string;
  let table: string;

  /** Every row of the state table: the ground truth the commands must agree with. */
  const scan = async () => {
    const rows: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await pipeline.dev.dynamo.send(new ScanCommand({ TableName: table, ExclusiveStartKey: startKey }));
      rows.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return rows;
  };

  beforeAll(async () => {
    pipeline = await startTestPipeline({ simulator: { latencyMs: 0 } });
    table = pipeline.outputs.StateTableName ?? '';
    dir = await mkdtemp(join(tmpdir(), 'sluice-inspect-'));
    outputs = join(dir, 'outputs.json');
    await writeLocalOutputs(pipeline.dev, outputs);

    // Two published items on one topic (the second drafted with the first as history), the reviewer rejecting
    // the second's first draft; one invalid item; one item left mid-way through the extract stage.
    await pipeline.invoke('extract', [article('cloud-1', 'Cloud costs fall again')]);
    await pipeline.invoke('draft', [JSON.stringify({ itemId: 'cloud-1' })]);
    pipeline.llm.failWhen((request) =>
      request.itemId === 'cloud-2' && request.format.name === OUTPUT_FORMATS.review
        ? {
            content: JSON.stringify({
              verdict: 'reject',
              feedback: 'Name the source of the 40 percent figure.',
              unsupportedClaims: ['40 percent more requests'],
            }),
          }
        : undefined,
    );
    await pipeline.invoke('extract', [article('cloud-2', 'Cloud regions expand')]);
    await pipeline.invoke('draft', [JSON.stringify({ itemId: 'cloud-2' })]);
    await pipeline.invoke('extract', [JSON.stringify({ id: 'bad-1', title: 'No body' })]);
    await pipeline.invoke('extract', [article('slow-1', 'A slow one')]);
    await pipeline.dev.dynamo.send(
      new PutCommand({
        TableName: table,
        Item: {
          pk: 'ITEM#stuck-1',
          sk: 'ITEM',
          itemId: 'stuck-1',
          state: 'EXTRACTING',
          version: 2,
          createdAt: new Date().toISOString(),
          updatedAt: new Date().toISOString(),
          attempts: { extract: 1, draft: 0 },
          history: [],
        },
      }),
    );
    // Usage on earlier days, a 429 holding a model back, and an open breaker
    const usage = (daysAgo: number, stage: string, model: string, calls: number, nano: number) => ({
      pk: `USAGE#${day(daysAgo)}`,
      sk: `${stage}#${model}`,
      day: day(daysAgo),
      stage,
      model,
      calls,
      promptTokens: calls * 300,
      completionTokens: calls * 100,
      costNanoUsd: nano,
      rebilledCalls: 1,
    });
    for (const row of [
      usage(2, 'extract', 'gpt-4o-mini', 10, 1_234_567),
      usage(2, 'draft', 'gpt-4.1-mini', 20, 7_654_321),
      usage(5, 'draft', 'gpt-4o-mini', 3, 333),
    ]) {
      await pipeline.dev.dynamo.send(new PutCommand({ TableName: table, Item: row }));
    }
    await pipeline.dev.dynamo.send(
      new PutCommand({
        TableName: table,
        Item: { pk: 'LIMIT#gpt-4o-mini', sk: 'LIMIT', heldUntil: Date.now() + 60_000, tatRequests: Date.now() + 500 },
      }),
    );
    await pipeline.dev.dynamo.send(
      new PutCommand({
        TableName: table,
        Item: {
          pk: 'BREAKER#gpt-4.1-mini',
          sk: 'BREAKER',
          state: 'open',
          failures: 3,
          opens: 1,
          openedAt: Date.now(),
          openUntil: Date.now() + 30_000,
        },
      }),
    );
  });

  afterAll(async () => {
    await pipeline?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  describe('Command: sluice status', () => {
    it('counts items per state exactly as the state table holds them', async () => {
      // Act
      const run = await runCli(['status', '--json', '--outputs', outputs]);

      // Assess
      expect(run.code).toBe(0);
      const status = jsonOf<StatusSnapshot>(run);
      const direct: Record<string, number> = Object.fromEntries(PIPELINE.states.map((state) => [state, 0]));
      for (const row of await scan())
        if (row.sk === 'ITEM') direct[row.state as string] = (direct[row.state as string] ?? 0) + 1;
      expect(status.items.byState).toEqual(direct);
      expect(status.items.byState).toMatchObject({ PUBLISHED: 2, DEAD_LETTER: 1, EXTRACTED: 1, EXTRACTING: 1 });
    });

    it("shows queue depths, the DLQ's oldest message, breakers, limiters and today's spend", async () => {
      // Act
      const status = jsonOf<StatusSnapshot>(await runCli(['status', '--json', '--outputs', outputs]));
      const text = (await runCli(['status', '--outputs', outputs])).stdout;

      // Assess: queues (the handlers were invoked directly, so the draft queue holds the 3 hand-overs)
      const queue = (name: string) => status.queues.find((q) => q.queue === name);
      expect(queue('draft')).toMatchObject({ visible: 3, oldestAgeSeconds: null, oldestAgeNote: 'n/a locally' });
      expect(queue('intake DLQ')).toMatchObject({ visible: 1, items: 1 });
      expect(queue('intake DLQ')?.oldestAgeSeconds).toBeGreaterThanOrEqual(0);
      // Assess: breakers and limiters
      expect(status.breakers).toEqual([
        expect.objectContaining({ dependency: 'gpt-4.1-mini', state: 'open', opens: 1 }),
      ]);
      expect(status.limiters).toEqual([
        expect.objectContaining({
          model: 'gpt-4o-mini',
          heldUntil: expect.any(String),
          requestsAheadMs: expect.any(Number),
        }),
      ]);
      // Assess: today's usage is the sum of today's usage rows
      const today = (await scan()).filter((row) => row.pk === `USAGE#${day(0)}`);
      expect(status.today.calls).toBe(today.reduce((sum, row) => sum + Number(row.calls), 0));
      expect(status.today.costUsd).toBe(today.reduce((sum, row) => sum + Number(row.costNanoUsd), 0) / 1e9);
      expect(status.today.budget.limitUsd).toBeGreaterThan(0);
      expect(status.alarms).toMatchObject({ checked: false, note: expect.stringMatching(/skipped locally/) });
      // Assess: the text view
      expect(text).toMatch(
        /items\s+RECEIVED 0 {2}EXTRACTING 1 {2}EXTRACTED 1 .*PUBLISHED 2 {2}DEAD_LETTER 1 {2}DISCARDED 0 {2}\(total 5\)/,
      );
      expect(text).toMatch(/gpt-4\.1-mini\s+OPEN \(3 failure\(s\) in a row/);
      expect(text).toMatch(/gpt-4o-mini .*HELD by a 429/);
      expect(text).toMatch(/alarms\s+skipped locally/);
    });
  });

  describe('Command: sluice costs', () => {
    it("totals equal the sum of the state table's usage rows, by stage, model and day", async () => {
      // Prepare
      const rows = (await scan()).filter((row) => String(row.pk).startsWith('USAGE#'));
      const sum = (key: string) => rows.reduce((total, row) => total + Number(row[key] ?? 0), 0);

      // Act
      const reports = await Promise.all(
        (['stage', 'model', 'day'] as const).map(async (by) =>
          jsonOf<CostsReport>(await runCli(['costs', '--since', '7d', '--by', by, '--json', '--outputs', outputs])),
        ),
      );

      // Assess
      for (const report of reports) {
        expect(report.totals).toMatchObject({
          calls: sum('calls'),
          promptTokens: sum('promptTokens'),
          completionTokens: sum('completionTokens'),
          costNanoUsd: sum('costNanoUsd'),
          rebilledCalls: sum('rebilledCalls'),
        });
        expect(report.rows.reduce((total, row) => total + row.costNanoUsd, 0)).toBe(sum('costNanoUsd'));
      }
      expect(reports[2]?.rows.map((row) => row.key)).toEqual([day(5), day(2), day(0)]);
      expect(reports[1]?.rows.find((row) => row.key === 'gpt-4o-mini')?.calls).toBe(
        sum('calls') - rows.filter((row) => row.model === 'gpt-4.1-mini').reduce((t, row) => t + Number(row.calls), 0),
      );
    });

    it('limits the rows to the days asked for, and prints CSV with a totals row', async () => {
      // Act
      const run = await runCli(['costs', '--since', day(2), '--until', day(2), '--csv', '--outputs', outputs]);

      // Assess
      expect(run.code).toBe(0);
      expect(run.stdout.split('\r\n')).toEqual([
        'stage,calls,prompt_tokens,completion_tokens,tokens,cost_usd,usd_per_call,tokens_per_call,rebilled_calls',
        'draft,20,6000,2000,8000,0.007654321,0.000382716,400,1',
        'extract,10,3000,1000,4000,0.001234567,0.000123457,400,1',
        'total,30,9000,3000,12000,0.008888888,0.000296296,400,2',
        '',
      ]);
    });

    it('refuses a --since after --until with exit code 2', async () => {
      // Act
      const run = await runCli(['costs', '--since', day(0), '--until', day(3), '--outputs', outputs]);

      // Assess
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/--since .* is after --until/);
    });
  });

  describe('Command: sluice show', () => {
    it("shows every draft with the reviewer's verdict, the rejected one with its feedback, and the memory used", async () => {
      // Act
      const run = await runCli(['show', 'cloud-2', '--outputs', outputs]);
      const chain = jsonOf<ItemChain>(await runCli(['show', 'cloud-2', '--json', '--outputs', outputs]));

      // Assess: the chain read back from the ledger
      const ledger = await pipeline.ledger('cloud-2');
      expect(chain.item.state).toBe('PUBLISHED');
      expect(chain.drafts[0]).toMatchObject({
        revision: 0,
        verdict: 'rejected',
        review: { feedback: 'Name the source of the 40 percent figure.' },
      });
      expect(chain.drafts.at(-1)).toMatchObject({ revision: 1, published: true });
      expect(chain.memory).toEqual([
        expect.objectContaining({ degraded: false, related: [expect.objectContaining({ itemId: 'cloud-1' })] }),
      ]);
      expect(chain.calls.map((call) => call.step).sort()).toEqual(ledger.map((call) => call.step).sort());
      expect(chain.totals.costUsd).toBeCloseTo(ledger.reduce((sum, call) => sum + call.costNanoUsd, 0) / 1e9, 12);
      // Assess: the text view
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/^item cloud-2 {2}PUBLISHED/);
      // Settled: when the table's TTL may delete it, retentionDays after its publication
      expect(run.stdout).toMatch(/, version \d+, expires \d{4}-\d\d-\d\dT[\d:.]+Z \(retentionDays\)\n/);
      expect(run.stdout).toMatch(/revision 0: REJECTED/);
      expect(run.stdout).toMatch(/feedback: Name the source of the 40 percent figure\./);
      expect(run.stdout).toMatch(/unsupported: 40 percent more requests/);
      expect(run.stdout).toMatch(/revision 1: (ACCEPTED|REJECTED), published/);
      expect(run.stdout).toMatch(/1 related item\(s\)\n\s+cloud-1 {2}/);
      expect(run.stdout).toMatch(/extract knowledge\s+gpt-4o-mini/);
      expect(run.stdout).toMatch(/draft review\.0\s+gpt-4\.1-mini/);
      expect(run.stdout).toMatch(/\d+T[\d:.]+Z {2}PUBLISHED\n?$/);
    });

    it('shows why an invalid item was dead-lettered, with the message as received', async () => {
      // Act
      const run = await runCli(['show', 'bad-1', '--outputs', outputs]);

      // Assess
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/item bad-1 {2}DEAD_LETTER/);
      expect(run.stdout).toMatch(/not a valid item; the message as received\)\n\s+\{"id":"bad-1"/);
      expect(run.stdout).toMatch(/DEAD-LETTERED: InvalidItemError in extract/);
    });

    it('fails with exit code 1 and says so for an unknown item', async () => {
      // Act
      const run = await runCli(['show', 'no-such-item', '--outputs', outputs]);

      // Assess
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/sluice show: no item 'no-such-item' in the state table/);
      expect(run.stdout).toBe('');
    });

    it('says when an item was drafted without history', async () => {
      // Prepare: the draft model's breaker closed again (the status tests opened it for 30 s, and how long ago
      // that was depends on how fast they ran), the memory table taken away, then an item drafted
      await pipeline.dev.dynamo.send(
        new DeleteCommand({ TableName: table, Key: { pk: 'BREAKER#gpt-4.1-mini', sk: 'BREAKER' } }),
      );
      const dynamo = new DynamoDBClient(pipeline.dev.local.clientConfig('dynamodb'));
      await dynamo.send(new DeleteTableCommand({ TableName: pipeline.outputs.MemoryTableName }));
      dynamo.destroy();
      await pipeline.invoke('draft', [JSON.stringify({ itemId: 'slow-1' })]);

      // Act
      const run = await runCli(['show', 'slow-1', '--outputs', outputs]);

      // Assess
      expect(run.stdout).toMatch(/item slow-1 {2}PUBLISHED {2}degraded: NO_HISTORY/);
      expect(run.stdout).toMatch(/memory unavailable: drafted without history \(NO_HISTORY\)/);
    });
  });
});
