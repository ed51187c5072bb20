import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PurgeQueueCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { peekAll } from '#ops/queue-io.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';
import { runCli, writeLocalOutputs } from './operator-support.ts';

const body = 'Example Corp opened an office in Berlin on Tuesday, the company said.';
const item = (id: string, title: string) => JSON.stringify({ id, title, body });

describe('Command: sluice enqueue, files that cannot be read faithfully', () => {
  let pipeline: TestPipeline;
  let dir: string;
  let outputs: string;
  /** What is on the intake queue: the pipeline is not started, so nothing takes it off. */
  const queued = async () =>
    (await peekAll(pipeline.dev.sqs, pipeline.outputs.IntakeQueueUrl ?? '', 1)).map(
      (message) => JSON.parse(message.Body ?? '{}') as { id: string; title: string },
    );

  beforeAll(async () => {
    pipeline = await startTestPipeline({ simulator: { latencyMs: 0 } });
    dir = await mkdtemp(join(tmpdir(), 'sluice-enqueue-encoding-'));
    outputs = join(dir, 'outputs.json');
    await writeLocalOutputs(pipeline.dev, outputs);
    // Line 2 was saved as Latin-1: 'café' is 63 61 66 e9, not UTF-8.
    const latin1 = Buffer.concat([
      Buffer.from(`${item('utf8-1', 'Plain title')}\n{"id":"utf8-2","title":"caf`),
      Buffer.from([0xe9]),
      Buffer.from(` au lait","body":"${body}"}\n${item('utf8-3', 'Déjà vu, in UTF-8')}\n`),
    ]);
    await writeFile(join(dir, 'latin1.jsonl'), latin1);
    await writeFile(
      join(dir, 'junk.csv'),
      ['id,title,body', `csv-1,Fine,"${body}"`, `csv-2,"quoted"junk,"${body}"`, `csv-3,Fine too,"${body}"`].join(
        '\r\n',
      ),
    );
  });

  beforeEach(async () => {
    await pipeline.dev.sqs.send(new PurgeQueueCommand({ QueueUrl: pipeline.outputs.IntakeQueueUrl }));
  });

  afterAll(async () => {
    await pipeline?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a file with invalid UTF-8, naming its line and column, and sends nothing', async () => {
    // Act
    const run = await runCli(['enqueue', join(dir, 'latin1.jsonl'), '--outputs', outputs]);

    // Assess
    expect(run.code).toBe(2);
    expect(run.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(
        /^sluice enqueue: .*latin1\.jsonl: line 2 is not valid UTF-8 \(byte 0xe9 at column 28\).*--replace-invalid-utf8/,
      ),
    ]);
    expect(await queued()).toEqual([]);
  });

  it('sends it with U+FFFD in place of the bad bytes only with --replace-invalid-utf8, and says where', async () => {
    // Act
    const run = await runCli(['enqueue', join(dir, 'latin1.jsonl'), '--replace-invalid-utf8', '--outputs', outputs]);

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/replaced invalid UTF-8 with U\+FFFD on line\(s\) 2$/m);
    const titles = Object.fromEntries((await queued()).map((sent) => [sent.id, sent.title]));
    expect(titles).toEqual({ 'utf8-1': 'Plain title', 'utf8-2': 'caf\uFFFD au lait', 'utf8-3': 'Déjà vu, in UTF-8' });
  });

  it('refuses a CSV field with text after its closing quote, naming line and field, and sends nothing', async () => {
    // Act
    const run = await runCli(['enqueue', join(dir, 'junk.csv'), '--outputs', outputs]);

    // Assess
    expect(run.code).toBe(2);
    expect(run.stderr.trimEnd().split('\n')).toEqual([
      expect.stringMatching(/^sluice enqueue: .*junk\.csv: line 3, field 2 \(title\): text after the closing quote/),
    ]);
    expect(await queued()).toEqual([]);
  });
});
