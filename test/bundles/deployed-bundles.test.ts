import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIntakeMessage } from '#functions/extract/extract.ts';
import { PIPELINE } from '#functions/pipeline.ts';
import { type DevRuntime, startDevRuntime } from '#local/dev-runtime.ts';
import { LocalMetrics, summariseMetrics } from '#local/local-metrics.ts';
import { collectRunReport, type RunReport } from '#local/run-report.ts';
import { peekAll, sendBodies } from '#ops/queue-io.ts';
import { InvalidItemError } from '#shared/errors.ts';
import { intakeItemSchema } from '#shared/schemas.ts';
import { readSampleFile } from '../sim/sample-items.ts';
import { TEST_CONFIG } from '../support/pipeline.ts';

/**
 * The functions as `cdk deploy` uploads them: the stack synthesized with real bundling (minified ES modules), each
 * stage's bundle imported in an execution environment of its own with the template's environment mapped to the
 * emulators, behind the same event-source pollers as the sources. What the tests of the sources cannot see (a
 * minifier renaming classes, a dependency the bundle misses, an import-time read of the environment) shows here.
 */

/** Each invocation's end, however it ended: an init or invocation failure of a bundle must not pass unseen. */
const failures: string[] = [];

describe('Bundles: the stage functions as deployed, on the emulators', () => {
  let dev: DevRuntime;
  /** The EMF lines the bundles write to their stdout, read back as CloudWatch would. */
  const metrics = new LocalMetrics();

  beforeAll(async () => {
    dev = await startDevRuntime({
      bundles: true,
      config: TEST_CONFIG,
      simulator: { latencyMs: 0 },
      supervise: false,
      logLevel: 'SILENT',
      emf: metrics.sink,
    });
    for (const poller of dev.local.pollers) {
      poller.on('invocationEnd', (end) => {
        if (end.outcome === 'error' || end.outcome === 'invalidResponse') failures.push(String(end.error));
      });
    }
    dev.start();
  }, 120_000);

  afterAll(async () => {
    await dev?.stop();
  });

  it('publishes valid items and dead-letters invalid ones under their real error class', async () => {
    // Prepare: a few valid samples and every invalid one
    const { lines } = readSampleFile();
    const valid = lines.filter((line) => intakeItemSchema.safeParse(line).success).slice(0, 3);
    const invalid = lines.filter((line) => !intakeItemSchema.safeParse(line).success);
    expect(invalid.length).toBeGreaterThan(0);
    const bodies = [...valid, ...invalid].map((line) => JSON.stringify(line));

    // Act
    const sent = await sendBodies(dev.sqs, dev.outputs.IntakeQueueUrl ?? '', bodies);
    const accepted = sent.map((message) => {
      const parsed = parseIntakeMessage(message.body, message.messageId);
      return parsed.ok ? parsed.item.id : parsed.itemId;
    });
    const report = await drained(dev, accepted);

    // Assess
    expect(failures).toEqual([]);
    expect(report.items.lost).toBe(0);
    expect(report.items.byState.PUBLISHED).toBe(valid.length);
    expect(report.deadLetters).toHaveLength(invalid.length);
    for (const dead of report.deadLetters) {
      expect(dead).toMatchObject({ stage: 'extract', errorClass: InvalidItemError.name, messageInDlq: true });
    }
    const dlq = await peekAll(dev.sqs, dev.outputs.IntakeDeadLetterQueueUrl ?? '', 1);
    expect(dlq.map((message) => message.MessageAttributes?.errorClass?.StringValue)).toEqual(
      invalid.map(() => InvalidItemError.name),
    );
    expect(report.llm.byStage.extract?.calls).toBeGreaterThanOrEqual(valid.length);
    expect(report.llm.byStage.draft?.calls).toBeGreaterThanOrEqual(valid.length);
    const emitted = summariseMetrics(metrics);
    expect(emitted.items).toMatchObject({ published: valid.length, deadLettered: invalid.length });
    expect(emitted.llm.calls).toBe(report.llm.calls);
  });

  it("runs the supervisor's bundle on its schedule's invocation, reaching the mappings, queues and tables", async () => {
    // Act: one scheduled invocation (cdk.json's interval is a minute: one look per invocation)
    const report = await dev.supervisor.look();

    // Assess
    expect(report.errors).toEqual([]);
    expect(report.stages.map((stage) => stage.stage).sort()).toEqual(['draft', 'extract']);
    expect(dev.supervisor.reports).toContainEqual(report);
  });
});

describe('Function: startDevRuntime', () => {
  it('refuses, before starting anything, the hooks that reach into the functions when running bundles', async () => {
    // Act
    const starting = startDevRuntime({ bundles: true, faults: { crashPoint: () => {} }, sdkRetries: 2 });

    // Assess
    await expect(starting).rejects.toThrow('faults, sdkRetries apply to the sources only');
  });
});

/** The run's report once every accepted item is PUBLISHED or DEAD_LETTER (or the report as it stands after a minute). */
async function drained(dev: DevRuntime, accepted: readonly string[]): Promise<RunReport> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const report = await collectRunReport({ sqs: dev.sqs, dynamo: dev.dynamo, outputs: dev.outputs });
    const done = PIPELINE.terminalStates.reduce((sum, state) => sum + (report.items.byState[state] ?? 0), 0);
    if (done >= accepted.length || Date.now() > deadline) {
      return collectRunReport({ sqs: dev.sqs, dynamo: dev.dynamo, outputs: dev.outputs, acceptedItemIds: accepted });
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
