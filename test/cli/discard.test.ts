import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DiscardReport } from '#cli/discard.ts';
import { collectRunReport } from '#local/run-report.ts';
import { peekAll } from '#ops/queue-io.ts';
import type { StatusSnapshot } from '#ops/status-snapshot.ts';
import { LlmCallError } from '#shared/errors.ts';
import type { ItemRecord } from '#shared/item-store.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';
import { jsonOf, runCli, writeLocalOutputs } from './operator-support.ts';

const article = (id: string) =>
  JSON.stringify({
    id,
    title: `Example Corp news ${id}`,
    body: `Example Corp opened an office in Berlin on Tuesday (${id}), the company said in a statement.`,
  });
const INVALID_BODY = JSON.stringify({ id: 'spam-2', title: 'No body at all' });
const deadLettered = (item: ItemRecord) => item.state === 'DEAD_LETTER';

describe('Command: sluice discard', () => {
  let pipeline: TestPipeline;
  let dir: string;
  let outputs: string;
  const dlqItemIds = async () =>
    (await peekAll(pipeline.dev.sqs, pipeline.outputs.IntakeDeadLetterQueueUrl ?? '', 1))
      .map((message) => message.MessageAttributes?.itemId?.StringValue)
      .sort();

  beforeAll(async () => {
    pipeline = await startTestPipeline({ simulator: { latencyMs: 0 } });
    dir = await mkdtemp(join(tmpdir(), 'sluice-discard-'));
    outputs = join(dir, 'outputs.json');
    await writeLocalOutputs(pipeline.dev, outputs);
    pipeline.dev.start();
    // Two items a provider refuses (one to discard, one to keep), one invalid item, one that is published.
    for (const id of ['spam-1', 'keep-1']) {
      pipeline.llm.failWhen((request) =>
        request.itemId === id
          ? new LlmCallError('provider answered 401', { status: 401, retryable: false })
          : undefined,
      );
      await pipeline.send('IntakeQueueUrl', article(id));
    }
    await pipeline.send('IntakeQueueUrl', INVALID_BODY);
    await pipeline.send('IntakeQueueUrl', article('done-1'));
    for (const id of ['spam-1', 'keep-1', 'spam-2']) await pipeline.waitForItem(id, deadLettered);
    await pipeline.waitForItem('done-1', (item) => item.state === 'PUBLISHED');
  });

  afterAll(async () => {
    await pipeline?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses without a reason, and off a terminal without --yes, changing nothing', async () => {
    // Act
    const noReason = await runCli(['discard', '--item', 'spam-1', '--yes', '--outputs', outputs]);
    const noYes = await runCli(['discard', '--item', 'spam-1', '--reason', 'spam', '--outputs', outputs]);

    // Assess
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toMatch(/^sluice discard: say why with --reason TEXT/);
    expect(noYes.code).toBe(2);
    expect(noYes.stderr).toMatch(/^sluice discard: discarding cannot be undone: pass --yes to confirm/);
    expect((await pipeline.item('spam-1'))?.state).toBe('DEAD_LETTER');
    expect(await dlqItemIds()).toEqual(['keep-1', 'spam-1', 'spam-2']);
  });

  it('discards the named item with who and why, deletes its dead letter, and names ids with none', async () => {
    // Act
    const run = await runCli([
      'discard',
      '--item',
      'spam-1',
      '--item',
      'done-1',
      '--reason',
      'spam from a feed we dropped',
      '--by',
      'alice',
      '--yes',
      '--json',
      '--outputs',
      outputs,
    ]);

    // Assess: the report (done-1 is published: it has no dead letter to discard)
    expect(run.code).toBe(1);
    const report = jsonOf<DiscardReport>(run);
    expect(report.items).toEqual([
      { itemId: 'spam-1', outcome: 'discarded', state: 'DEAD_LETTER', errorClass: 'LlmCallError', stage: 'extract' },
    ]);
    expect(report).toMatchObject({ deleted: 1, notFound: ['done-1'], by: 'alice' });
    // Assess: the item record, the audit record, the DLQ
    const item = await pipeline.item('spam-1');
    expect(item?.state).toBe('DISCARDED');
    expect(item?.discarded).toEqual({ by: 'alice', reason: 'spam from a feed we dropped', at: report.at });
    expect(item?.deadLetter?.errorClass).toBe('LlmCallError');
    const { Items = [] } = await pipeline.dev.dynamo.send(
      new QueryCommand({
        TableName: pipeline.outputs.StateTableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :audit)',
        ExpressionAttributeValues: { ':pk': 'ITEM#spam-1', ':audit': 'AUDIT#' },
      }),
    );
    expect(Items).toMatchObject([{ action: 'discard', by: 'alice', reason: 'spam from a feed we dropped' }]);
    expect(await dlqItemIds()).toEqual(['keep-1', 'spam-2']);
  });

  it('selects by error class as redrive does, and leaves the other dead letters', async () => {
    // Act
    const run = await runCli([
      'discard',
      '--error-class',
      'InvalidItemError',
      '--reason',
      'old feed format',
      '--yes',
      '--outputs',
      outputs,
    ]);

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/spam-2\s+DISCARDED\s+InvalidItemError in extract/);
    expect(run.stdout).toMatch(/deleted 1 dead letter\(s\) from the DLQs/);
    expect((await pipeline.item('spam-2'))?.state).toBe('DISCARDED');
    expect((await pipeline.item('keep-1'))?.state).toBe('DEAD_LETTER');
    expect(await dlqItemIds()).toEqual(['keep-1']);
  });

  it('a later delivery of a discarded item changes nothing and sends no dead letter', async () => {
    // Prepare
    const paid = pipeline.llm.calls.length;

    // Act: the producer sends both again, as an at-least-once redelivery would
    const extract = await pipeline.invoke('extract', [article('spam-1'), INVALID_BODY]);

    // Assess: acknowledged, nothing paid, nothing back in the DLQ, both still DISCARDED
    expect(extract.batchItemFailures).toEqual([]);
    expect(pipeline.llm.calls.length).toBe(paid);
    expect((await pipeline.item('spam-1'))?.state).toBe('DISCARDED');
    expect((await pipeline.item('spam-2'))?.state).toBe('DISCARDED');
    expect(await dlqItemIds()).toEqual(['keep-1']);
  });

  it('counts discarded items as accounted for, and shows them in status and show', async () => {
    // Act
    const report = await collectRunReport({
      sqs: pipeline.dev.sqs,
      dynamo: pipeline.dev.dynamo,
      outputs: pipeline.outputs,
      acceptedItemIds: ['spam-1', 'spam-2', 'keep-1', 'done-1'],
    });
    const status = jsonOf<StatusSnapshot>(await runCli(['status', '--json', '--outputs', outputs]));
    const text = await runCli(['status', '--outputs', outputs]);
    const show = await runCli(['show', 'spam-1', '--outputs', outputs]);

    // Assess
    expect(report.items).toMatchObject({ lost: 0, lostItemIds: [] });
    expect(report.items.byState).toMatchObject({ DISCARDED: 2, DEAD_LETTER: 1, PUBLISHED: 1 });
    expect(status.items.byState).toMatchObject({ DISCARDED: 2, DEAD_LETTER: 1, PUBLISHED: 1 });
    expect(text.stdout).toMatch(/DEAD_LETTER 1 {2}DISCARDED 2/);
    expect(show.stdout).toMatch(/^item spam-1 {2}DISCARDED/);
    expect(show.stdout).toMatch(/DISCARDED by alice at \S+: spam from a feed we dropped/);
  });
});
