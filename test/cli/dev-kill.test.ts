import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '#local/run-report.ts';
import { peekAll } from '#ops/queue-io.ts';
import { publishedEventSchema } from '#shared/schemas.ts';
import { DevProcess } from '../support/dev-process.ts';

/**
 * `sluice dev` killed with SIGKILL mid-run (no handler runs, nothing is flushed: a kill -9, an OOM kill, a power
 * cut), then started again on the same data dir: every item is published once, none is lost, and the calls the
 * kill cut short are paid again in the open (re-billed), never hidden.
 */

const ITEMS = 40;
/** Short function timeouts, so messages in flight at the kill come back within seconds (visibility 6 × timeout). */
const SETTINGS = [
  '--set',
  'stages.extract.timeoutSeconds=6',
  '--set',
  'stages.draft.timeoutSeconds=6',
  '--set',
  'llm.timeoutSeconds=2',
  '--latency',
  '300-900',
];

describe('Command: sluice dev, killed with SIGKILL and started again', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-dev-kill-'));
    const lines = Array.from({ length: ITEMS }, (_, index) =>
      JSON.stringify({
        id: `kill-${index}`,
        title: `Item ${index}`,
        body: `A body long enough for the intake schema to accept it, item number ${index}.`,
      }),
    );
    await writeFile(join(dir, 'items.jsonl'), `${lines.join('\n')}\n`);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('publishes every item once after a restart on the same data dir, with nothing lost', async () => {
    // Prepare: the first run, killed while items are published and others are still in the stages
    const common = ['--data-dir', join(dir, 'data'), '--outputs', join(dir, 'outputs.json'), ...SETTINGS];
    const first = new DevProcess(['--items', 'items.jsonl', ...common], dir);
    await first.waitFor(/^ {2}items {3}published [1-9]\d* .*in progress [1-9]/m);
    await first.kill();

    // Act: started again on the same data dir, with no new items, until the pipeline is idle
    const second = new DevProcess(['--no-samples', '--report', 'report.json', ...common], dir);
    await second.waitFor(
      new RegExp(`^idle: all ${ITEMS} items settled \\(${ITEMS} published, 0 dead-lettered\\)`, 'm'),
    );
    const outputs = JSON.parse(await readFile(join(dir, 'outputs.json'), 'utf8')).Sluice as Record<string, string>;
    const sqs = new SQSClient({
      endpoint: outputs.LocalSqsEndpoint,
      region: outputs.LocalRegion,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const events = (await peekAll(sqs, outputs.PublishedQueueUrl ?? '')).map((message) =>
      publishedEventSchema.parse(JSON.parse(message.Body ?? '')),
    );
    sqs.destroy();
    const code = await second.interrupt();
    const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as RunReport;

    // Assess: every item published, each under one publication (an event sent twice by a kill between the send
    // and the checkpoint carries the same publicationId), and the sums of the second run match its own calls
    expect(code).toBe(0);
    expect(report.items).toMatchObject({ total: ITEMS, lost: 0, inProgress: 0 });
    expect(report.items.byState.PUBLISHED).toBe(ITEMS);
    const publications = new Map<string, Set<string>>();
    for (const event of events) {
      publications.set(event.itemId, (publications.get(event.itemId) ?? new Set()).add(event.publicationId));
    }
    expect(publications.size).toBe(ITEMS);
    expect([...publications.values()].every((ids) => ids.size === 1)).toBe(true);
    expect(second.stdout).toMatch(/^items: 40 total, 40 published, 0 dead-lettered, 0 lost$/m);
    expect(second.stdout).toMatch(/LLM figures match the state table/);
  }, 600_000);
});
