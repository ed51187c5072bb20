import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveTarget, type Target } from '#ops/target.ts';
import { type ConsoleServer, startConsole } from '../../console/server.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';
import { runCli, writeLocalOutputs } from './operator-support.ts';

const LONG_ID = 'a'.repeat(10_000);

describe('Commands: bad arguments', () => {
  let pipeline: TestPipeline;
  let dir: string;
  let outputs: string;

  beforeAll(async () => {
    pipeline = await startTestPipeline({ simulator: { latencyMs: 0 } });
    dir = await mkdtemp(join(tmpdir(), 'sluice-bad-input-'));
    outputs = join(dir, 'outputs.json');
    await writeLocalOutputs(pipeline.dev, outputs);
  });

  afterAll(async () => {
    await pipeline?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Each bad argument, and what the one line that refuses it must say. */
  const cases: [string, string[], RegExp][] = [
    [
      'a 10,000-character id',
      ['show', LONG_ID],
      /^sluice show: the item id must be 1-128 characters .*\(got a{40}… \(10000 characters\)\)$/,
    ],
    ['an id with a slash', ['show', 'a/b'], /^sluice show: the item id must be 1-128 characters .*\(got a\/b\)$/],
    ['an empty id', ['show', ''], /^sluice show: the item id must be .*\(got an empty id\)$/],
    [
      'a day that does not exist',
      ['costs', '--since', '2026-02-30'],
      /^sluice costs: --since must be YYYY-MM-DD.*\(got 2026-02-30\)$/,
    ],
    ['a bare number as a date', ['costs', '--until', '1'], /^sluice costs: --until must be YYYY-MM-DD.*\(got 1\)$/],
    [
      'an age beyond any date',
      ['reenrich', '--since', '99999999999d'],
      /^sluice reenrich: --since must be an age of at most 100 years/,
    ],
    [
      'a hexadecimal count',
      ['redrive', '--max', '0x10'],
      /^sluice redrive: --max must be a whole number ≥ 1 \(got 0x10\)$/,
    ],
    [
      'a hexadecimal rate',
      ['redrive', '--rate', '0x1f'],
      /^sluice redrive: --rate must be a number above 0 and at most 500 \(got 0x1f\)$/,
    ],
    [
      'an interval of a nanosecond',
      ['status', '--interval', '1e-9'],
      /^sluice status: --interval must be a number from 0.1 to 3600 \(got 1e-9\)$/,
    ],
    [
      'an error class with a space',
      ['redrive', '--error-class', 'Llm CallError'],
      /^sluice redrive: --error-class must be an error class/,
    ],
    [
      'a 10,000-character error class',
      ['redrive', '--error-class', LONG_ID],
      /^sluice redrive: --error-class must be .*\(10000 characters\)\)$/,
    ],
  ];

  it.each(cases)('refuses %s with one line naming it, exit code 2', async (_name, argv, expected) => {
    // Act
    const run = await runCli([...argv, '--outputs', outputs]);

    // Assess: the reason, then the pointer to --help; no stack trace
    expect(run.code).toBe(2);
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(expected);
    expect(lines.slice(1)).toEqual([`Run 'sluice ${argv[0]} --help' for usage.`]);
    expect(run.stdout).toBe('');
  });
});

describe('Console API: bad ids', () => {
  let pipeline: TestPipeline;
  let dir: string;
  let target: Target;
  let server: ConsoleServer;

  beforeAll(async () => {
    pipeline = await startTestPipeline({ simulator: { latencyMs: 0 } });
    dir = await mkdtemp(join(tmpdir(), 'sluice-bad-input-api-'));
    const outputs = join(dir, 'outputs.json');
    await writeLocalOutputs(pipeline.dev, outputs);
    target = await resolveTarget({ outputs });
    server = await startConsole({ target });
  });

  afterAll(async () => {
    await server?.close();
    target?.close();
    await pipeline?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const get = async (path: string) => {
    const response = await fetch(new URL(path, server.url));
    return { status: response.status, body: (await response.json()) as { error: string } };
  };

  it('answers 400 for an id no item can have, naming what is wrong', async () => {
    // Act
    const long = await get(`/api/items/${LONG_ID}`);
    const slash = await get('/api/items/a%2Fb');

    // Assess
    expect(long.status).toBe(400);
    expect(long.body.error).toMatch(/^id must be 1-128 characters .*\(got a{40}… \(10000 characters\)\)$/);
    expect(slash.status).toBe(400);
    expect(slash.body.error).toMatch(/^id must be 1-128 characters .*\(got a\/b\)$/);
  });

  it('answers 404 for a valid id with no item', async () => {
    // Act
    const answer = await get('/api/items/no-such-item');

    // Assess
    expect(answer.status).toBe(404);
    expect(answer.body.error).toMatch(/^no item 'no-such-item' in the state table/);
  });

  it('refuses a redrive naming an id no item can have, with 400', async () => {
    // Act
    const response = await fetch(new URL('/api/redrive', server.url), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ itemIds: ['ok-1', 'a/b'], dryRun: true }),
    });

    // Assess
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(
      /^itemIds\.1 must hold ids of 1-128 characters/,
    );
  });
});
