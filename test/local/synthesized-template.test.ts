import { describe, expect, it } from 'vitest';
import { synthesizeTemplate } from '#lib/template.ts';
import { startLocalRuntime } from '#local/runtime.ts';
import { parseTemplate } from '#local/template.ts';

describe('The synthesized stack, run locally', () => {
  it('creates three stage queues with their DLQs, two tables and two functions, and resolves every output', async () => {
    // Prepare
    const template = await synthesizeTemplate();
    const declaredOutputs = Object.keys(parseTemplate(template).outputs).sort();

    // Act
    const runtime = await startLocalRuntime({
      template,
      stackName: 'Sluice',
      handlerFor: async () => async () => undefined,
    });

    try {
      // Assess
      const { queues, tables, functions, eventSources } = runtime.deployment;
      const sources = queues.filter((queue) => queue.deadLetterQueueLogicalId !== undefined);
      const dlqIds = new Set(sources.map((queue) => queue.deadLetterQueueLogicalId));
      expect(queues).toHaveLength(6);
      expect(sources).toHaveLength(3);
      expect(queues.filter((queue) => dlqIds.has(queue.logicalId))).toHaveLength(3);
      expect(tables).toHaveLength(2);
      expect(functions).toHaveLength(2);
      expect(eventSources).toHaveLength(2);
      expect(runtime.pollers).toHaveLength(2);
      for (const eventSource of eventSources) {
        expect(eventSource.reportBatchItemFailures).toBe(true);
        expect(eventSource.maxConcurrency).toBeGreaterThanOrEqual(2);
      }
      for (const fn of functions) {
        for (const value of Object.values(fn.environment)) {
          expect(value).not.toBe('');
        }
      }
      expect(declaredOutputs.length).toBeGreaterThan(0);
      expect(Object.keys(runtime.outputs).sort()).toEqual(declaredOutputs);
      for (const value of Object.values(runtime.outputs)) {
        expect(value).not.toBe('');
      }
    } finally {
      await runtime.stop();
    }
  });
});
