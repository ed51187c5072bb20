import { describe, expect, it } from 'vitest';
import { synthesizeTemplate } from '#lib/template.ts';
import { startLocalRuntime } from '#local/runtime.ts';
import { parseTemplate } from '#local/template.ts';

describe('The synthesized stack, run locally', () => {
  it('creates three stage queues with their DLQs, two tables, three functions and two pollers, and resolves every output', async () => {
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
      // The stage functions and the supervisor, which no event source invokes.
      expect(functions).toHaveLength(3);
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

  it('accepts the supervisor, its schedule and its permissions, noting the schedule as not run locally', async () => {
    // Prepare
    const template = await synthesizeTemplate();

    // Act
    const runtime = await startLocalRuntime({
      template,
      stackName: 'Sluice',
      handlerFor: async () => async () => undefined,
    });

    try {
      // Assess
      const { functions, eventSources, notes } = runtime.deployment;
      const supervisor = functions.find((fn) => fn.environment.SLUICE_SUPERVISOR_CONFIG !== undefined);
      expect(supervisor).toBeDefined();
      expect(eventSources.map((source) => source.functionLogicalId)).not.toContain(supervisor?.logicalId);
      const uuidOf = (queueUrl: string | undefined) =>
        eventSources.find((source) => source.queueUrl === queueUrl)?.uuid;
      expect(supervisor?.environment.EXTRACT_EVENT_SOURCE_MAPPING_ID).toBe(
        uuidOf(supervisor?.environment.EXTRACT_QUEUE_URL),
      );
      expect(supervisor?.environment.DRAFT_EVENT_SOURCE_MAPPING_ID).toBe(
        uuidOf(supervisor?.environment.DRAFT_QUEUE_URL),
      );
      expect(runtime.outputs.SupervisorFunctionName).toBe(supervisor?.functionName);
      expect(notes).toContainEqual(
        expect.stringMatching(
          new RegExp(`: EventBridge schedule rate\\(1 minute\\) of ${supervisor?.logicalId} is not run locally$`),
        ),
      );
    } finally {
      await runtime.stop();
    }
  });
});
