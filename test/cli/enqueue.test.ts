import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PIPELINE } from '#functions/pipeline.ts';
import { queueDepth } from '#ops/queue-io.ts';
import { countItemsByState } from '#ops/table-reads.ts';
import type { ItemState } from '#shared/item-store.ts';
import { startTestPipeline, TEST_CONFIG, type TestPipeline } from '../support/pipeline.ts';
import { jsonOf, runCli, writeLocalOutputs } from './operator-support.ts';

const ITEMS = 500;
/** Lines (1-based) made bad: a short body, broken JSON, an unknown field. */
const BAD = new Map([
  [17, '{"id":"bad-17","title":"Too short","body":"tiny"}'],
  [250, '{"id":"bad-250","title":"Broken JSON"'],
  [
    498,
    '{"id":"bad-498","title":"A field too many","body":"This body is long enough to pass the schema check.","colour":"red"}',
  ],
]);

const line = (n: number) =>
  BAD.get(n) ??
  JSON.stringify({
    id: `bulk-${n}`,
    title: `Item ${n}: Example Corp opens an office`,
    body: `Item ${n}. Example Corp opened an office in Berlin on Tuesday, the company said.`,
  });

describe('Command: sluice enqueue', () => {
  let pipeline: TestPipeline;
  let dir: string;
  let outputs: string;
  let file: string;

  beforeAll(async () => {
    pipeline = await startTestPipeline({
      simulator: { latencyMs: 0 },
      // Larger batches: this file pushes 500 items through the pipeline.
      config: {
        stages: {
          extract: { ...TEST_CONFIG.stages.extract, batchSize: 10, reservedConcurrency: 8, maxConcurrency: 8 },
          // One draft and one review per item: the drafts are not what this file is about.
          draft: {
            ...TEST_CONFIG.stages.draft,
            batchSize: 10,
            reservedConcurrency: 8,
            maxConcurrency: 8,
            maxRevisions: 0,
          },
        },
      },
    });
    dir = await mkdtemp(join(tmpdir(), 'sluice-enqueue-'));
    outputs = join(dir, 'outputs.json');
    await writeLocalOutputs(pipeline.dev, outputs);
    file = join(dir, 'items.jsonl');
    await writeFile(file, `${Array.from({ length: ITEMS }, (_, index) => line(index + 1)).join('\n')}\n`);
  });

  afterAll(async () => {
    await pipeline?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('sends nothing with --dry-run or, when a line is bad, with --strict', async () => {
    // Act
    const dryRun = await runCli(['enqueue', file, '--outputs', outputs, '--dry-run']);
    const strict = await runCli(['enqueue', file, '--outputs', outputs, '--strict', '--json']);

    // Assess
    expect(dryRun.code).toBe(1);
    expect(dryRun.stdout).toMatch(/500 line\(s\), 497 valid, 3 bad/);
    expect(dryRun.stdout).toMatch(/dry run: 497 item\(s\) would be sent/);
    expect(strict.code).toBe(1);
    expect(jsonOf(strict)).toMatchObject({ valid: 497, sent: 0, refused: true });
    const depth = await queueDepth(pipeline.dev.sqs, pipeline.outputs.IntakeQueueUrl ?? '');
    expect(depth.visible + depth.inFlight + depth.delayed).toBe(0);
  });

  it('reports the 3 bad lines by number, sends the other 497, and every one of them is published', async () => {
    // Act
    const run = await runCli(['enqueue', file, '--outputs', outputs]);
    pipeline.dev.start();
    const published = await waitForPublished(pipeline, ITEMS - BAD.size, 60_000);

    // Assess: the report
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/line 17 \(bad-17\): body: body must have at least 40 characters/);
    expect(run.stdout).toMatch(/line 250: not JSON/);
    expect(run.stdout).toMatch(/line 498 \(bad-498\): .*colour/);
    expect(run.stdout).toMatch(
      /sent 497 item\(s\) to the intake queue of Sluice \(local, .*\); 3 bad line\(s\) not sent/,
    );
    // Off a terminal the progress is a few plain lines, not a bar redrawn in place.
    expect(run.stdout).toMatch(/^sent 497\/497$/m);
    expect(run.stdout).not.toContain(`${String.fromCharCode(27)}[`);

    // Assess: what the pipeline did with them
    expect(published.PUBLISHED).toBe(497);
    expect(published.DEAD_LETTER).toBe(0);
    expect(await pipeline.item('bulk-1')).toMatchObject({ state: 'PUBLISHED' });
    expect(await pipeline.item('bad-17')).toBeUndefined();
  }, 1_200_000);
});

/**
 * Counts PUBLISHED and DEAD_LETTER items once a second (cheaply: the pipeline has the CPU) until `expected`, or
 * until `stallMs` pass with no item finishing: a busy machine makes the pipeline slower, not stuck.
 */
async function waitForPublished(pipeline: TestPipeline, expected: number, stallMs: number) {
  const count = async (state: ItemState) =>
    (await countItemsByState(pipeline.dev.dynamo, pipeline.outputs.StateTableName ?? '', PIPELINE.states))[state] ?? 0;
  let finished = -1;
  let progressAt = Date.now();
  for (;;) {
    const counts = { PUBLISHED: await count('PUBLISHED'), DEAD_LETTER: await count('DEAD_LETTER') };
    const now = Date.now();
    if (counts.PUBLISHED + counts.DEAD_LETTER > finished) {
      finished = counts.PUBLISHED + counts.DEAD_LETTER;
      progressAt = now;
    }
    if (finished >= expected || now - progressAt > stallMs) return counts;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
