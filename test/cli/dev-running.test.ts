import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteQueueCommand, SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DoctorReport } from '#cli/doctor/check.ts';
import { DevProcess } from '../support/dev-process.ts';
import { jsonOf, runCli } from './operator-support.ts';

/**
 * `sluice dev` left running, as a developer runs it: what it says when the pipeline goes idle, when a queue is
 * deleted under it, and when it is stopped with Ctrl-C, mid-run or after the work.
 */

function items(from: number, count: number): string {
  return Array.from({ length: count }, (_, index) =>
    JSON.stringify({
      id: `item-${from + index}`,
      title: `Item ${from + index}`,
      body: `A body long enough for the intake schema to accept it, item ${from + index}.`,
    }),
  ).join('\n');
}

async function sqsOf(outputsFile: string): Promise<{ sqs: SQSClient; outputs: Record<string, string> }> {
  const outputs = JSON.parse(await readFile(outputsFile, 'utf8')).Sluice as Record<string, string>;
  const sqs = new SQSClient({
    endpoint: outputs.LocalSqsEndpoint,
    region: outputs.LocalRegion,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  return { sqs, outputs };
}

describe('Command: sluice dev, left running', () => {
  let dir: string;
  let dev: DevProcess;
  let outputsFile: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-dev-running-'));
    outputsFile = join(dir, 'outputs.json');
    await writeFile(join(dir, 'items.jsonl'), items(1, 3));
    dev = new DevProcess(
      ['--items', 'items.jsonl', '--latency', '0', '--outputs', outputsFile, '--data-dir', join(dir, 'data')],
      dir,
    );
  });

  afterAll(async () => {
    if (dev?.child.exitCode === null) await dev.interrupt();
    await rm(dir, { recursive: true, force: true });
  });

  it('says once that the pipeline is idle, and again after new items have settled', async () => {
    // Act: the three items settle
    await dev.waitFor(/^idle: all 3 items settled \(3 published, 0 dead-lettered\); waiting for new items$/m);
    // two more arrive from outside and settle
    const { sqs, outputs } = await sqsOf(outputsFile);
    const more = items(4, 2).split('\n');
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: outputs.IntakeQueueUrl,
        Entries: more.map((body, index) => ({ Id: String(index), MessageBody: body })),
      }),
    );
    sqs.destroy();
    await dev.waitFor(/^idle: all 5 items settled \(5 published, 0 dead-lettered\); waiting for new items$/m);

    // Assess: one line per transition to idle, however many refreshes it stayed idle
    expect(dev.count(/^idle: /m)).toBe(2);
  }, 400_000);

  it('reports a deleted queue once, keeps the rest running, and sluice doctor names it with the fix', async () => {
    // Prepare
    const { sqs, outputs } = await sqsOf(outputsFile);

    // Act: an operator deletes the intake DLQ; then an item arrives
    await sqs.send(new DeleteQueueCommand({ QueueUrl: outputs.IntakeDeadLetterQueueUrl }));
    const notice = new RegExp(
      `^the intake DLQ ${outputs.IntakeDeadLetterQueueUrl?.replace(/[.:/]/g, '\\$&')} no longer exists \\(deleted through the SQS API\\?\\); the rest keeps running\\. Restart 'sluice dev' to create it again`,
      'm',
    );
    await dev.waitFor(notice);
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: outputs.IntakeQueueUrl,
        Entries: [{ Id: '0', MessageBody: items(6, 1) }],
      }),
    );
    sqs.destroy();
    await dev.waitFor(/^idle: all 6 items settled \(6 published, 0 dead-lettered\)/m);
    const doctor = jsonOf<DoctorReport>(await runCli(['doctor', '--json', '--outputs', outputsFile]));

    // Assess: said once, the item still went through, the process runs on
    expect(dev.count(notice)).toBe(1);
    expect(dev.stdout).toMatch(/MISSING intake DLQ/);
    expect(dev.child.exitCode).toBeNull();
    expect(dev.stderr).not.toMatch(/QueueDoesNotExist/);
    expect(doctor.checks.find((check) => check.name === 'queues')?.problems).toContainEqual({
      problem: `the intake DLQ ${outputs.IntakeDeadLetterQueueUrl} does not exist`,
      fix: "restart 'sluice dev': it creates every queue the stack defines",
    });
  }, 400_000);

  it('on Ctrl-C after the work, sums up with nothing lost, the missing queue named, the figures matching', async () => {
    // Act
    const code = await dev.interrupt();

    // Assess
    expect(code).toBe(0);
    expect(dev.stdout).toMatch(/^items: 6 total, 6 published, 0 dead-lettered, 0 lost$/m);
    expect(dev.stdout).toMatch(/^missing queues: intake DLQ \(deleted while running/m);
    expect(dev.stdout).toMatch(/LLM figures match the state table/);
  }, 200_000);
});

describe('Command: sluice dev, interrupted mid-run', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-dev-interrupted-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('tells the items still in progress from lost ones, and compares the calls of the same run', async () => {
    // Prepare: the samples at a latency that keeps most of them in the pipeline for a while
    const dev = new DevProcess(['--latency', '400', '--outputs', join(dir, 'outputs.json')], dir);
    await dev.waitFor(/^enqueued 53 item\(s\) on the intake queue$/m);
    await dev.waitFor(/^ {2}llm {5}[1-9]\d* calls/m);

    // Act
    const code = await dev.interrupt();

    // Assess: with their messages still queued, the unsettled items are in progress, not lost
    const summary =
      /^items: 53 total, (\d+) published, (\d+) dead-lettered, (\d+) in progress \(their messages are still queued; in memory, they end with this run: --data-dir keeps them for a restart\), 0 lost$/m.exec(
        dev.stdout,
      );
    expect(summary, dev.stdout).not.toBeNull();
    const [published, deadLettered, inProgress] = (summary ?? []).slice(1).map(Number);
    expect(inProgress).toBeGreaterThan(0);
    expect((published ?? 0) + (deadLettered ?? 0) + (inProgress ?? 0)).toBe(53);
    expect(dev.stdout).toMatch(
      /LLM figures match the state table \(this run's calls: (\d+) in the metrics, \1 in the usage rows\)/,
    );
    expect(code).toBe(0);
  }, 400_000);
});
