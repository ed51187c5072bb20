import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peekAll } from '#ops/queue-io.ts';
import type { ItemState } from '#shared/item-store.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';
import { jsonOf, runCli, writeLocalOutputs } from './operator-support.ts';

interface ReenrichJson {
  found: number;
  sent: number;
  itemIds: string[];
}

describe('Command: sluice reenrich', () => {
  let pipeline: TestPipeline;
  let dir: string;
  let outputs: string;
  let table: string;

  const putItem = async (itemId: string, state: ItemState, degraded: string[], updatedAt: string) => {
    await pipeline.dev.dynamo.send(
      new PutCommand({
        TableName: table,
        Item: {
          pk: `ITEM#${itemId}`,
          sk: 'ITEM',
          itemId,
          state,
          degraded,
          version: 5,
          createdAt: updatedAt,
          updatedAt,
          attempts: { extract: 0, draft: 0 },
          history: [],
        },
      }),
    );
  };
  const draftQueue = async () =>
    (await peekAll(pipeline.dev.sqs, pipeline.outputs.DraftQueueUrl ?? '', 1)).map((m) => JSON.parse(m.Body ?? ''));

  beforeAll(async () => {
    // The pollers are not started: what the command sends stays on the draft queue to be looked at.
    pipeline = await startTestPipeline();
    table = pipeline.outputs.StateTableName ?? '';
    dir = await mkdtemp(join(tmpdir(), 'sluice-reenrich-'));
    outputs = join(dir, 'outputs.json');
    await writeLocalOutputs(pipeline.dev, outputs);
    await putItem('old-1', 'PUBLISHED', ['NO_HISTORY'], '2026-01-05T10:00:00.000Z');
    await putItem('new-1', 'PUBLISHED', ['NO_HISTORY', 'UNAPPROVED'], '2026-03-01T10:00:00.000Z');
    await putItem('fine-1', 'PUBLISHED', [], '2026-03-02T10:00:00.000Z');
    await putItem('unapproved-1', 'PUBLISHED', ['UNAPPROVED'], '2026-03-02T10:00:00.000Z');
    await putItem('dead-1', 'DEAD_LETTER', ['NO_HISTORY'], '2026-03-02T10:00:00.000Z');
  });

  afterAll(async () => {
    await pipeline?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('lists the published items flagged NO_HISTORY with --dry-run, oldest first, and sends nothing', async () => {
    // Act
    const run = await runCli(['reenrich', '--dry-run', '--json', '--outputs', outputs]);

    // Assess
    expect(run.code).toBe(0);
    expect(jsonOf<ReenrichJson>(run)).toMatchObject({ found: 2, sent: 0, itemIds: ['old-1', 'new-1'] });
    expect(await draftQueue()).toEqual([]);
  });

  it('refuses while the memory breaker is open, sending nothing', async () => {
    // Prepare
    const breaker = { pk: 'BREAKER#memory', sk: 'BREAKER' };
    await pipeline.dev.dynamo.send(
      new PutCommand({
        TableName: table,
        Item: {
          ...breaker,
          state: 'open',
          failures: 3,
          opens: 1,
          openedAt: Date.now(),
          openUntil: Date.now() + 30_000,
        },
      }),
    );

    // Act
    const run = await runCli(['reenrich', '--outputs', outputs]);
    await pipeline.dev.dynamo.send(new DeleteCommand({ TableName: table, Key: breaker }));

    // Assess
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/sluice reenrich: the memory breaker is open .*would go without history again/);
    expect(await draftQueue()).toEqual([]);
  });

  it('re-queues the flagged items since a date for a redraft with history', async () => {
    // Act
    const run = await runCli(['reenrich', '--since', '2026-02-01', '--outputs', outputs]);

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/re-queued 1 item\(s\) flagged NO_HISTORY since 2026-02-01T00:00:00.000Z/);
    expect(await draftQueue()).toEqual([{ itemId: 'new-1', reenrich: true }]);
  });

  it('re-queues at most --max items', async () => {
    // Act
    const run = await runCli(['reenrich', '--max', '1', '--json', '--outputs', outputs]);

    // Assess
    expect(jsonOf<ReenrichJson>(run)).toMatchObject({ found: 1, sent: 1, itemIds: ['old-1'] });
  });
});
