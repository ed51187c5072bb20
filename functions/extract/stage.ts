import type { StageDefinition } from '#shared/pipeline.ts';

/** The "left brain": a raw intake item to structured knowledge, one call per item. */
export const EXTRACT_STAGE = {
  name: 'extract' as const,
  title: 'Extract',
  description: 'The "left brain": raw item to structured knowledge, one call per item.',
  queueKey: 'Intake',
  constructId: 'Extract',
  module: 'functions/extract',
  working: ['EXTRACTING'],
  done: 'EXTRACTED',
  steps: [{ name: 'knowledge', description: 'the structured knowledge of the item' }],
  usesMemory: false,
  defaults: {
    model: 'gpt-4o-mini',
    reservedConcurrency: 5,
    maxConcurrency: 5,
    batchSize: 1,
    timeoutSeconds: 120,
    memoryMb: 512,
    maxOutputTokens: 2048,
  },
} satisfies StageDefinition;
