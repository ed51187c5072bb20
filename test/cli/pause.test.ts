import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { STACK_NAME } from '#lib/template.ts';
import { localOutputs } from '#local/dev-runtime.ts';
import { queueDepth } from '#ops/queue-io.ts';
import type { StageControlOutcome } from '#ops/stage-switch.ts';
import type { StatusSnapshot } from '#ops/status-snapshot.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';
import { jsonOf, runCli } from './operator-support.ts';

const article = (id: string) =>
  JSON.stringify({
    id,
    title: `Example Corp news ${id}`,
    body: `Example Corp opened an office in Berlin on Tuesday (${id}), the company said in a statement.`,
  });

const WAIT = { timeout: 15_000, interval: 100 };

describe('Commands: sluice pause and resume', () => {
  let pipeline: TestPipeline;
  let dir: string;
  let outputs: string;
  const items = ['held-1', 'held-2', 'held-3', 'held-4', 'held-5'];

  const status = async () => jsonOf<StatusSnapshot>(await runCli(['status', '--json', '--outputs', outputs]));
  const extractSource = async () => (await status()).eventSources.find((source) => source.stage === 'extract');
  const intakeDepth = async () => {
    const depth = await queueDepth(pipeline.dev.sqs, pipeline.outputs.IntakeQueueUrl ?? '');
    return depth.visible + depth.inFlight + depth.delayed;
  };

  beforeAll(async () => {
    pipeline = await startTestPipeline({ simulator: { latencyMs: 0 } });
    dir = await mkdtemp(join(tmpdir(), 'sluice-pause-'));
    outputs = join(dir, 'outputs.json');
    // The outputs file exactly as `sluice dev` writes it, with the Lambda control API's endpoint.
    await writeFile(outputs, JSON.stringify({ [STACK_NAME]: localOutputs(pipeline.dev) }));
    pipeline.dev.start();
  });

  afterAll(async () => {
    await pipeline?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('pauses the extract stage: nothing is consumed, and status says who paused it and why', async () => {
    // Act
    const run = await runCli(['pause', 'extract', '--reason', 'provider outage', '--json', '--outputs', outputs]);
    await vi.waitFor(async () => expect((await extractSource())?.state).toBe('Disabled'), WAIT);
    for (const id of items) await pipeline.send('IntakeQueueUrl', article(id));

    // Assess: the command's answer and the control record
    expect(run.code).toBe(0);
    const outcome = jsonOf<StageControlOutcome>(run);
    expect(outcome).toMatchObject({
      stage: 'extract',
      action: 'pause',
      changed: true,
      mappingId: pipeline.outputs.ExtractEventSourceMappingId,
      previousState: 'Enabled',
      state: 'Disabling',
      control: { stage: 'extract', paused: true, by: 'operator', reason: 'provider outage' },
    });
    const { Item } = await pipeline.dev.dynamo.send(
      new GetCommand({ TableName: pipeline.outputs.StateTableName, Key: { pk: 'CONTROL#extract', sk: 'CONTROL' } }),
    );
    expect(Item).toMatchObject({ paused: true, by: 'operator', reason: 'provider outage', at: outcome.control.at });

    // Assess: status, as JSON and as text, while the items wait in the queue
    const source = await extractSource();
    expect(source).toMatchObject({
      state: 'Disabled',
      enabled: false,
      maxConcurrency: 4,
      control: { paused: true, by: 'operator', reason: 'provider outage' },
    });
    expect((await status()).eventSources.find((other) => other.stage === 'draft')).toMatchObject({
      state: 'Enabled',
      enabled: true,
      control: null,
    });
    const text = (await runCli(['status', '--outputs', outputs])).stdout;
    expect(text).toMatch(
      /stages\s+extract\s+PAUSED \(Disabled\), max concurrency 4; paused by operator at .*Z: provider outage/,
    );
    expect(text).toMatch(/draft\s+running \(Enabled\), max concurrency 4/);
    expect(await intakeDepth()).toBe(items.length);
    for (const id of items) expect(await pipeline.item(id)).toBeUndefined();
  });

  it('says a paused stage is already paused, and keeps its record', async () => {
    // Act
    const run = await runCli(['pause', 'extract', '--outputs', outputs]);

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^extract was already paused: event source mapping \S+ is Disabled\n/);
    expect(run.stdout).toMatch(/paused by operator at .*Z: provider outage/);
    expect(await intakeDepth()).toBe(items.length);
  });

  it('resumes the stage: every item that waited is published', async () => {
    // Act
    const run = await runCli(['resume', 'extract', '--outputs', outputs]);

    // Assess
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^extract resumed: event source mapping \S+ is Enabling; /);
    for (const id of items) await pipeline.waitForItem(id, (item) => item.state === 'PUBLISHED');
    expect(await intakeDepth()).toBe(0);
    expect(await extractSource()).toMatchObject({
      state: 'Enabled',
      enabled: true,
      control: { paused: false, by: 'operator' },
    });
  });

  it('says a running stage was not paused', async () => {
    // Act
    const run = await runCli(['resume', 'extract', '--json', '--outputs', outputs]);

    // Assess
    expect(run.code).toBe(0);
    expect(jsonOf<StageControlOutcome>(run)).toMatchObject({ changed: false, previousState: 'Enabled' });
  });

  it("shows what the supervisor did: a stage it paused, by 'auto', with its reason, in status JSON and text", async () => {
    // Arrange: the draft model unavailable for an hour
    const tableName = pipeline.outputs.StateTableName ?? '';
    const since = Date.now() - 3_600_000;
    await pipeline.dev.dynamo.send(
      new PutCommand({
        TableName: tableName,
        Item: {
          pk: 'BREAKER#gpt-4.1-mini',
          sk: 'BREAKER',
          state: 'open',
          failures: 3,
          openedAt: Date.now(),
          openSince: since,
          openUntil: Date.now() + 600_000,
        },
      }),
    );

    // Act
    await pipeline.dev.supervisor.look();
    const json = (await status()).eventSources.find((source) => source.stage === 'draft');
    const text = await runCli(['status', '--outputs', outputs]);

    // Assess
    expect(json).toMatchObject({
      enabled: false,
      control: { paused: true, by: 'auto' },
      supervisor: { pausedFor: 'provider', lastAction: { action: 'paused' } },
    });
    expect(json?.supervisor?.lastAction?.detail).toMatch(/gpt-4\.1-mini unavailable since/);
    expect(text.stdout).toMatch(
      /draft +PAUS\w+ .*paused by auto at .*; supervisor paused at .*Z: gpt-4\.1-mini unavailable/,
    );

    // Clean up: the operator resumes it (the breaker record goes first, so no look pauses it again)
    await pipeline.dev.dynamo.send(
      new DeleteCommand({ TableName: tableName, Key: { pk: 'BREAKER#gpt-4.1-mini', sk: 'BREAKER' } }),
    );
    expect((await runCli(['resume', 'draft', '--outputs', outputs])).code).toBe(0);
  });

  it.each([
    [['pause', 'publish', '--outputs'], /unknown stage 'publish': the stages are extract and draft/],
    [['resume', 'Extract', '--outputs'], /unknown stage 'Extract': the stages are extract and draft/],
    [['pause', '--outputs'], /name the stage to pause: extract or draft/],
    [['resume', 'draft', '--reason', 'x', '--outputs'], /Unknown option '--reason'/],
  ])('refuses %j with exit code 2', async (argv, message) => {
    // Act
    const run = await runCli([...argv, outputs]);

    // Assess
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
  });

  it('explains itself with --help', async () => {
    // Act
    const pause = await runCli(['pause', '--help']);
    const resume = await runCli(['help', 'resume']);

    // Assess
    expect(pause.code).toBe(0);
    expect(pause.stdout).toMatch(/^Usage: sluice pause STAGE \[--reason TEXT\]/);
    expect(pause.stdout).toMatch(/sluice pause extract --reason/);
    expect(resume.stdout).toMatch(/^Usage: sluice resume STAGE/);
  });
});
