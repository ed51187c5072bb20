import type { StageDefinition } from '#shared/pipeline.ts';

/** The "right brain": knowledge and related past items to a reviewed draft, up to a few calls per item. */
export const DRAFT_STAGE = {
  name: 'draft' as const,
  title: 'Draft',
  description: 'The "right brain": knowledge (and related past items) to a reviewed draft, up to a few calls per item.',
  queueKey: 'Draft',
  constructId: 'Draft',
  module: 'functions/draft',
  working: ['DRAFTING', 'REVIEWING'],
  done: 'PUBLISHED',
  steps: [
    { name: 'draft', description: 'the blog-post draft (and each redraft after a rejected review)' },
    { name: 'review', description: "the critic's review of a draft against the knowledge" },
  ],
  usesMemory: true,
  reenriches: true,
  maxRevisions: 2,
  defaults: {
    model: 'gpt-4.1-mini',
    reservedConcurrency: 3,
    maxConcurrency: 3,
    batchSize: 1,
    timeoutSeconds: 300,
    memoryMb: 512,
    maxOutputTokens: 4096,
  },
} satisfies StageDefinition;
