import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorClassOf, moveDeadLetters } from '#ops/dead-letter-mover.ts';
import { peekAll, queueDepth } from '#ops/queue-io.ts';
import { redrive } from '#ops/redrive.ts';
import type { Target } from '#ops/target.ts';
import { ItemBudgetExceededError, LlmCallError } from '#shared/errors.ts';
import type { ItemRecord } from '#shared/item-store.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';
import { jsonOf, runCli, writeLocalOutputs } from './operator-support.ts';

const article = (id: string) =>
  JSON.stringify({
    id,
    title: `Example Corp news ${id}`,
    body: `Example Corp opened an office in Berlin on Tuesday (${id}), the company said in a statement.`,
  });

const deadLettered = (item: ItemRecord) => item.state === 'DEAD_LETTER';
const published = (item: ItemRecord) => item.state === 'PUBLISHED';

interface RedriveJson {
  moved: number;
  left: number;
  lanes: { lane: string; moved: Record<string, number>; left: Record<string, number> }[];
}

describe('Command: sluice redrive', () => {
  let pipeline: TestPipeline;
  let dir: string;
  let outputs: string;
  const permanent = ['perm-1', 'perm-2', 'perm-3'];
  const broken = ['broken-1', 'broken-2'];

  beforeAll(async () => {
    pipeline = await startTestPipeline({ simulator: { latencyMs: 0 } });
    dir = await mkdtemp(join(tmpdir(), 'sluice-redrive-'));
    outputs = join(dir, 'outputs.json');
    await writeLocalOutputs(pipeline.dev, outputs);
    pipeline.dev.start();

    // Dead letters of three classes: a provider's 401 (once each), output that breaks the schema on every one
    // of the three attempts, and an item that is not valid at all.
    for (const id of permanent) {
      pipeline.llm.failWhen((request) =>
        request.itemId === id
          ? new LlmCallError('provider answered 401', { status: 401, retryable: false })
          : undefined,
      );
    }
    for (const id of broken) {
      for (let attempt = 0; attempt < 3; attempt += 1) {
        pipeline.llm.failWhen((request) => (request.itemId === id ? { content: '{"summary": "cut' } : undefined));
      }
    }
    for (const id of [...permanent, ...broken]) await pipeline.send('IntakeQueueUrl', article(id));
    await pipeline.send('IntakeQueueUrl', JSON.stringify({ id: 'invalid-1', title: 'No body' }));
    for (const id of [...permanent, ...broken, 'invalid-1']) await pipeline.waitForItem(id, deadLettered);
  });

  afterAll(async () => {
    await pipeline?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('counts the dead letters by stage and error class with --dry-run, and moves nothing', async () => {
    // Act
    const run = await runCli(['redrive', '--dry-run', '--json', '--outputs', outputs]);

    // Assess
    expect(run.code).toBe(0);
    const report = jsonOf<RedriveJson>(run);
    expect(report.moved).toBe(6);
    expect(report.lanes.find((lane) => lane.lane === 'extract')?.moved).toEqual({
      LlmCallError: 3,
      InvalidOutputError: 2,
      InvalidItemError: 1,
    });
    const depth = await queueDepth(pipeline.dev.sqs, pipeline.outputs.IntakeDeadLetterQueueUrl ?? '');
    expect(depth.visible).toBe(6);
  });

  it('moves only the dead letters of the chosen error class, and those items get published', async () => {
    // Act
    const run = await runCli(['redrive', '--error-class', 'LlmCallError', '--outputs', outputs]);
    const items = await Promise.all(permanent.map((id) => pipeline.waitForItem(id, published)));

    // Assess: the report
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/no SQS message move tasks: moving messages one by one/);
    expect(run.stdout).toMatch(
      /intake DLQ → intake: moved 3 \(LlmCallError 3\); left 3 \(InvalidItemError 1, InvalidOutputError 2\)/,
    );
    // Assess: the redriven items resumed with a fresh failure budget and were published
    expect(items.map((item) => item.attempts.extract)).toEqual([0, 0, 0]);
    // Assess: the others are still dead letters, their messages still in the DLQ and visible at once
    for (const id of broken) expect((await pipeline.item(id))?.state).toBe('DEAD_LETTER');
    const left = await peekAll(pipeline.dev.sqs, pipeline.outputs.IntakeDeadLetterQueueUrl ?? '');
    expect(left.map(errorClassOf).sort()).toEqual(['InvalidItemError', 'InvalidOutputError', 'InvalidOutputError']);
  });

  it('moves no more than --max', async () => {
    // Act
    const run = await runCli([
      'redrive',
      '--error-class',
      'InvalidOutputError',
      '--max',
      '1',
      '--stage',
      'extract',
      '--json',
      '--outputs',
      outputs,
    ]);

    // Assess
    expect(jsonOf<RedriveJson>(run)).toMatchObject({ moved: 1 });
    let states: (string | undefined)[] = [];
    await waitFor(async () => {
      states = await Promise.all(broken.map(async (id) => (await pipeline.item(id))?.state));
      return states.includes('PUBLISHED');
    });
    expect(states.sort()).toEqual(['DEAD_LETTER', 'PUBLISHED']);
  });

  it('refuses an unknown stage with exit code 2', async () => {
    // Act
    const run = await runCli(['redrive', '--stage', 'review', '--outputs', outputs]);

    // Assess
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--stage must be extract, draft, published \(got review\)/);
  });
});

describe('Command: sluice redrive --item', () => {
  let pipeline: TestPipeline;
  let dir: string;
  let outputs: string;

  beforeAll(async () => {
    pipeline = await startTestPipeline({ simulator: { latencyMs: 0 } });
    dir = await mkdtemp(join(tmpdir(), 'sluice-redrive-item-'));
    outputs = join(dir, 'outputs.json');
    await writeLocalOutputs(pipeline.dev, outputs);
    pipeline.dev.start();
    // Three dead letters of two classes: a provider's 400 and the item's token budget are permanent; three
    // retryable refusals in a row (a 409, which says nothing of the provider's health) spend a failure budget.
    pipeline.llm.failWhen((request) =>
      request.itemId === 'refused-1'
        ? new LlmCallError('provider answered 400', { status: 400, retryable: false })
        : undefined,
    );
    pipeline.llm.failWhen((request) =>
      request.itemId === 'budget-1' ? new ItemBudgetExceededError('over the item token budget') : undefined,
    );
    for (let attempt = 0; attempt < 3; attempt += 1) {
      pipeline.llm.failWhen((request) =>
        request.itemId === 'flaky-1'
          ? new LlmCallError('provider answered 409', { status: 409, retryable: true })
          : undefined,
      );
    }
    for (const id of ['refused-1', 'budget-1', 'flaky-1']) await pipeline.send('IntakeQueueUrl', article(id));
    for (const id of ['refused-1', 'budget-1', 'flaky-1']) await pipeline.waitForItem(id, deadLettered);
  });

  afterAll(async () => {
    await pipeline?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('warns of a permanent failure by how it failed, not by its class alone, and names ids with no dead letter', async () => {
    // Act
    const run = await runCli([
      'redrive',
      '--item',
      'refused-1',
      '--item',
      'flaky-1',
      '--item',
      'nope-1',
      '--dry-run',
      '--outputs',
      outputs,
    ]);

    // Assess: both are LlmCallError, only the 400 is permanent
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      /intake DLQ → intake: would move 2 \(LlmCallError 2\); left 1 \(ItemBudgetExceededError 1\)/,
    );
    expect(run.stdout).toMatch(/no dead letter in the DLQs searched for 1 item\(s\): nope-1/);
    expect(run.stdout).toMatch(/note: 1 message\(s\) would be redriven after a permanent failure \(LlmCallError 1\)/);
  });

  it('warns for ItemBudgetExceededError as for InvalidItemError', async () => {
    // Act
    const run = await runCli(['redrive', '--item', 'budget-1', '--dry-run', '--outputs', outputs]);

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      /note: 1 message\(s\) would be redriven after a permanent failure \(ItemBudgetExceededError 1\)/,
    );
  });

  it("moves only the named items' dead letters, and those items get published", async () => {
    // Act
    const run = await runCli(['redrive', '--item', 'flaky-1', '--item', 'nope-1', '--json', '--outputs', outputs]);
    const flaky = await pipeline.waitForItem('flaky-1', published);

    // Assess: the report
    expect(run.code).toBe(1);
    expect(jsonOf<RedriveJson & { notFound: string[]; permanent: number }>(run)).toMatchObject({
      moved: 1,
      notFound: ['nope-1'],
      permanent: 0,
    });
    // Assess: the item resumed with a fresh budget; the others are dead letters still, their messages in the DLQ
    expect(flaky.attempts.extract).toBe(0);
    for (const id of ['refused-1', 'budget-1']) expect((await pipeline.item(id))?.state).toBe('DEAD_LETTER');
    const left = await peekAll(pipeline.dev.sqs, pipeline.outputs.IntakeDeadLetterQueueUrl ?? '', 1);
    expect(left.map((message) => message.MessageAttributes?.itemId?.StringValue).sort()).toEqual([
      'budget-1',
      'refused-1',
    ]);
  });
});

describe('Redrive: a crash midway', () => {
  let pipeline: TestPipeline;
  let dir: string;
  let outputs: string;
  const ids = ['crash-1', 'crash-2', 'crash-3', 'crash-4'];

  beforeAll(async () => {
    pipeline = await startTestPipeline({ simulator: { latencyMs: 0 } });
    dir = await mkdtemp(join(tmpdir(), 'sluice-redrive-crash-'));
    outputs = join(dir, 'outputs.json');
    await writeLocalOutputs(pipeline.dev, outputs);
    pipeline.dev.start();
    for (const id of ids) {
      pipeline.llm.failWhen((request) =>
        request.itemId === id ? new ItemBudgetExceededError('over the item token budget') : undefined,
      );
      await pipeline.send('IntakeQueueUrl', article(id));
    }
    for (const id of ids) await pipeline.waitForItem(id, deadLettered);
  });

  afterAll(async () => {
    await pipeline?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('loses nothing when the process dies between sending a message back and deleting it from the DLQ', async () => {
    // Prepare: a client whose process "dies" at its first delete, after the send to the source queue succeeded
    const dying = new SQSClient(pipeline.dev.local.clientConfig('sqs'));
    dying.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'DeleteMessageBatchCommand') throw new Error('the process died');
        return next(args);
      },
      { step: 'initialize', name: 'dieBeforeDelete' },
    );
    const dlq = pipeline.outputs.IntakeDeadLetterQueueUrl ?? '';
    const lane = {
      name: 'extract' as const,
      from: { label: 'intake DLQ', url: dlq, arn: undefined },
      to: { label: 'intake', url: pipeline.outputs.IntakeQueueUrl ?? '', arn: undefined },
    };

    // Act: the crash
    const crash = await moveDeadLetters(dying, { lanes: [lane], dryRun: false, holdSeconds: 1, waitSeconds: 0 }).catch(
      (error: Error) => error,
    );
    dying.destroy();
    const items = await Promise.all(ids.map((id) => pipeline.waitForItem(id, published)));
    const paid = pipeline.llm.calls.length;
    // Act: once the hold lapses the copies are back in the DLQ; a second redrive moves them again
    await waitFor(async () => (await peekAll(pipeline.dev.sqs, dlq, 1)).length === ids.length);
    const again = await runCli(['redrive', '--outputs', outputs, '--json']);
    await waitFor(async () => {
      const depth = await queueDepth(pipeline.dev.sqs, pipeline.outputs.IntakeQueueUrl ?? '');
      return depth.visible + depth.inFlight + depth.delayed === 0;
    });

    // Assess: the crash happened after the send, and every item it was moving got published
    expect(crash).toBeInstanceOf(Error);
    expect(items.map((item) => item.state)).toEqual(['PUBLISHED', 'PUBLISHED', 'PUBLISHED', 'PUBLISHED']);
    // Assess: the duplicates left by the crash were moved too, and cost nothing: their items were done
    expect(jsonOf<RedriveJson>(again)).toMatchObject({ moved: ids.length });
    expect(pipeline.llm.calls.length).toBe(paid);
    expect(await peekAll(pipeline.dev.sqs, dlq, 1)).toEqual([]);
    for (const id of ids) expect((await pipeline.item(id))?.state).toBe('PUBLISHED');
  });
});

describe('Function: moveDeadLetters', () => {
  let pipeline: TestPipeline;

  beforeAll(async () => {
    pipeline = await startTestPipeline();
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it("spaces the sends to --rate and keeps every message attribute, as SQS's move task does", async () => {
    // Prepare: five dead letters on the published DLQ (the published queue has no consumer here)
    const dlq = pipeline.outputs.PublishedDeadLetterQueueUrl ?? '';
    const source = pipeline.outputs.PublishedQueueUrl ?? '';
    await pipeline.dev.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: dlq,
        Entries: Array.from({ length: 5 }, (_, index) => ({
          Id: String(index),
          MessageBody: JSON.stringify({ itemId: `event-${index}` }),
          MessageAttributes: {
            errorClass: { DataType: 'String', StringValue: 'ConsumerError' },
            tenant: { DataType: 'String', StringValue: 'acme' },
          },
        })),
      }),
    );
    let clock = 1_000_000;
    const waits: number[] = [];
    const sleep = async (ms: number) => {
      waits.push(ms);
      clock += ms;
    };

    // Act
    const [outcome] = await moveDeadLetters(pipeline.dev.sqs, {
      lanes: [
        {
          name: 'published',
          from: { label: 'published DLQ', url: dlq, arn: undefined },
          to: { label: 'published', url: source, arn: undefined },
        },
      ],
      ratePerSecond: 2,
      dryRun: false,
      holdSeconds: 30,
      waitSeconds: 0,
      now: () => clock,
      sleep,
    });

    // Assess: batches of two, each sent a second after the one before
    expect(outcome?.moved).toEqual({ ConsumerError: 5 });
    expect(waits).toEqual([1000, 1000]);
    const moved = await pipeline.receiveAll('PublishedQueueUrl', 5);
    expect(moved.map((message) => JSON.parse(message.Body ?? '').itemId).sort()).toEqual([
      'event-0',
      'event-1',
      'event-2',
      'event-3',
      'event-4',
    ]);
    for (const message of moved) {
      expect(Object.keys(message.MessageAttributes ?? {}).sort()).toEqual(['errorClass', 'tenant']);
    }
    expect(await peekAll(pipeline.dev.sqs, dlq, 1)).toEqual([]);
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('Function: redrive (SQS message move tasks on AWS)', () => {
  it("names each lane's queue as the destination: SQS cannot tell the source of a dead letter the handler sent", async () => {
    // Prepare: an SQS client answered in process, recording the commands it was given (no request leaves)
    const sent: { command: string; input: Record<string, unknown> }[] = [];
    const sqs = new SQSClient({ region: 'eu-west-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });
    sqs.middlewareStack.add(
      () => async (args) => {
        const input = args.input as Record<string, unknown>;
        const command = String((args as { commandName?: string }).commandName ?? '');
        sent.push({ command, input });
        const output = String(input.QueueUrl ?? '').endsWith('intake-dlq')
          ? { Attributes: { ApproximateNumberOfMessages: '2' } }
          : { Attributes: { ApproximateNumberOfMessages: '0' }, TaskHandle: 'handle-1', Results: [] };
        return { output: { $metadata: {}, ...output }, response: {} };
      },
      { step: 'initialize', name: 'answerInProcess' },
    );
    const queue = (label: string, name: string) => ({
      label,
      url: `https://sqs.eu-west-1.amazonaws.com/123456789012/${name}`,
      arn: `arn:aws:sqs:eu-west-1:123456789012:${name}`,
    });
    const lane = (name: 'extract' | 'draft' | 'published', label: string) => ({
      name,
      queue: queue(label, label),
      deadLetterQueue: queue(`${label} DLQ`, `${label}-dlq`),
    });
    const target = {
      kind: 'aws' as const,
      description: 'Sluice (aws)',
      lanes: {
        extract: lane('extract', 'intake'),
        draft: lane('draft', 'draft'),
        published: lane('published', 'published'),
      },
      sqs,
    } as unknown as Target;

    // Act
    const { report } = await redrive(target, { stages: ['extract'], dryRun: false });
    sqs.destroy();

    // Assess
    expect(report.mode).toBe('move-task');
    const start = sent.find((entry) => 'SourceArn' in entry.input && !('MaxResults' in entry.input));
    expect(start?.input).toMatchObject({
      SourceArn: 'arn:aws:sqs:eu-west-1:123456789012:intake-dlq',
      DestinationArn: 'arn:aws:sqs:eu-west-1:123456789012:intake',
    });
  });
});
