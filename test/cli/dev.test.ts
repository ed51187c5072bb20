import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const SLUICE = new URL('../../bin/sluice.ts', import.meta.url).pathname;

describe('Command: sluice dev', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-dev-'));
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('drains the bundled samples with --once and reports every item published or dead-lettered, none lost', async () => {
    // Act
    const report = join(dir, 'report.json');
    const outputs = join(dir, 'outputs.json');
    const { stdout } = await run(
      process.execPath,
      [
        SLUICE,
        'dev',
        '--once',
        '--report',
        report,
        '--outputs',
        outputs,
        '--latency',
        '0',
        '--data-dir',
        join(dir, 'data'),
      ],
      { cwd: dir, env: { ...process.env, OPENAI_API_KEY: '' }, timeout: 240_000 },
    );

    // Assess: the report
    const summary = JSON.parse(await readFile(report, 'utf8'));
    expect(summary.items.lost).toBe(0);
    expect(summary.items.byState.PUBLISHED).toBe(50);
    expect(summary.items.byState.DEAD_LETTER).toBe(3);
    expect(
      summary.deadLetters.every(
        (d: { messageInDlq: boolean; errorClass: string }) => d.messageInDlq && d.errorClass === 'InvalidItemError',
      ),
    ).toBe(true);
    expect(summary.llm.byStage.extract.calls).toBe(50);
    expect(summary.llm.byStage.draft.calls).toBeGreaterThanOrEqual(100);
    expect(summary.llm.costUsd).toBeGreaterThan(0);
    expect(summary.llm.byStageAndModel.map((row: { stage: string }) => row.stage).sort()).toEqual(['draft', 'extract']);

    // Assess: the metrics read back from the functions' EMF tell the state table's story exactly
    expect(summary.metrics.llm.calls).toBe(summary.llm.calls);
    expect(summary.metrics.llm.promptTokens).toBe(summary.llm.promptTokens);
    expect(summary.metrics.llm.completionTokens).toBe(summary.llm.completionTokens);
    expect(summary.metrics.llm.costUsd).toBeCloseTo(summary.llm.costUsd, 9);
    expect(summary.metrics.items.published).toBe(50);
    expect(summary.metrics.items.deadLettered).toBe(3);

    // Assess: what the user sees, and the outputs file any SDK client can use
    expect(stdout).toMatch(/intake queue\s+http:\/\/127\.0\.0\.1:\d+\//);
    expect(stdout).toMatch(/items: 53 total, 50 published, 3 dead-lettered, 0 lost/);
    expect(stdout).toMatch(/LLM figures match the state table/);
    const written = JSON.parse(await readFile(outputs, 'utf8'));
    expect(Object.keys(written.Sluice)).toEqual(
      expect.arrayContaining([
        'IntakeQueueUrl',
        'PublishedQueueUrl',
        'StateTableName',
        'LocalSqsEndpoint',
        'LocalDynamoDbEndpoint',
      ]),
    );
  });

  it('refuses bad options with exit code 2 and names the option', async () => {
    // Act
    const failure = await run(process.execPath, [SLUICE, 'dev', '--latency', 'fast'], { cwd: dir }).catch(
      (error) => error,
    );

    // Assess
    expect(failure.code).toBe(2);
    expect(failure.stderr).toMatch(/--latency must be MS or MIN-MAX/);
  });
});
