import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRIC_CATALOGUE, type MetricName } from '#shared/metric-catalogue.ts';
import { dimensionsOf } from '#shared/telemetry.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';

const ITEM = {
  id: 'metrics-1',
  title: 'Metrics for a known run',
  body:
    'Example Corp announced on Tuesday in Berlin that its cloud platform now serves 40 percent more requests. ' +
    'Engineers said the change took two years of work on the storage layer.',
};

describe('Metrics: the EMF the handlers emit', () => {
  let pipeline: TestPipeline;

  beforeAll(async () => {
    pipeline = await startTestPipeline();
    // Act: one item through both stages, as the event source would invoke them
    await pipeline.invoke('extract', [JSON.stringify(ITEM)]);
    await pipeline.invoke('draft', [JSON.stringify({ itemId: ITEM.id })]);
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('emits only catalogue metrics, each with its catalogue dimensions', () => {
    // Assess
    const series = pipeline.metrics.series();
    expect(series.length).toBeGreaterThan(0);
    expect(pipeline.metrics.rejected).toBe(0);
    for (const { metric, dimensions } of series) {
      expect(Object.keys(METRIC_CATALOGUE)).toContain(metric);
      expect(Object.keys(dimensions).sort()).toEqual([...dimensionsOf(metric as MetricName)].sort());
      expect(dimensions.service).toBe('sluice');
    }
  });

  it('counts the item through its states', () => {
    expect(pipeline.metrics.sum('ItemsReceived', { stage: 'extract' })).toBe(1);
    expect(pipeline.metrics.sum('ItemsExtracted', { stage: 'extract' })).toBe(1);
    expect(pipeline.metrics.sum('ItemsPublished', { stage: 'draft' })).toBe(1);
    expect(pipeline.metrics.sum('ItemsDeadLettered')).toBe(0);
  });

  it('reports calls, tokens and cost per stage and model exactly as the call ledger has them', async () => {
    // Prepare
    const ledger = await pipeline.ledger(ITEM.id);

    // Assess
    for (const call of ledger) expect(call.outcome).toBe('ok');
    const pairs = new Set(ledger.map((call) => `${call.stage}#${call.model}`));
    for (const pair of pairs) {
      const [stage = '', model = ''] = pair.split('#');
      const calls = ledger.filter((call) => call.stage === stage && call.model === model);
      const where = { stage, model };
      expect(pipeline.metrics.sum('LlmCalls', where)).toBe(calls.length);
      expect(pipeline.metrics.sum('PromptTokens', where)).toBe(calls.reduce((sum, c) => sum + c.promptTokens, 0));
      expect(pipeline.metrics.sum('CompletionTokens', where)).toBe(
        calls.reduce((sum, c) => sum + c.completionTokens, 0),
      );
      const nano = calls.reduce((sum, c) => sum + c.costNanoUsd, 0);
      expect(Math.round(pipeline.metrics.sum('LlmCostUsd', where) * 1e9)).toBe(nano);
    }
    expect(pipeline.metrics.sum('LlmCalls')).toBe(ledger.length);
  });

  it('reports the budget used after each call', () => {
    const used = pipeline.metrics.max('BudgetUsedPercent');
    expect(used).toBeGreaterThan(0);
    expect(used).toBeLessThan(100);
  });
});
