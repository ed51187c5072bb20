import { describe, expect, it } from 'vitest';
import { DRAFT_STAGE } from '#functions/draft/stage.ts';
import { EXTRACT_STAGE } from '#functions/extract/stage.ts';
import { PIPELINE } from '#functions/pipeline.ts';
import {
  definePipeline,
  laneOfState,
  nextStageOf,
  PipelineDefinitionError,
  reenrichingStageOf,
  type StageDefinition,
  stageOf,
  stageStatesOf,
} from '#shared/pipeline.ts';

const MIDDLE: StageDefinition = {
  ...EXTRACT_STAGE,
  name: 'translate',
  title: 'Translate',
  queueKey: 'Translate',
  constructId: 'Translate',
  working: ['TRANSLATING'],
  done: 'TRANSLATED',
};

describe('Function: definePipeline', () => {
  it('derives the states, terminal states and lanes of the shipped pipeline in order', () => {
    // Assess
    expect(PIPELINE.states).toEqual([
      'RECEIVED',
      'EXTRACTING',
      'EXTRACTED',
      'DRAFTING',
      'REVIEWING',
      'PUBLISHED',
      'DEAD_LETTER',
      'DISCARDED',
    ]);
    expect(PIPELINE.terminalStates).toEqual(['PUBLISHED', 'DEAD_LETTER', 'DISCARDED']);
    expect(PIPELINE.lanes).toEqual(['extract', 'draft', 'published']);
  });

  it('gives each stage the state it is ready in: the first RECEIVED, the next the one before leaves', () => {
    // Prepare
    const pipeline = definePipeline([EXTRACT_STAGE, MIDDLE, DRAFT_STAGE]);

    // Act & Assess
    expect(stageStatesOf(pipeline, 'extract')).toEqual({
      ready: 'RECEIVED',
      working: ['EXTRACTING'],
      done: 'EXTRACTED',
      earlier: [],
    });
    expect(stageStatesOf(pipeline, 'draft')).toEqual({
      ready: 'TRANSLATED',
      working: ['DRAFTING', 'REVIEWING'],
      done: 'PUBLISHED',
      earlier: ['RECEIVED', 'EXTRACTING', 'EXTRACTED', 'TRANSLATING'],
    });
    expect(nextStageOf(pipeline, 'extract')?.name).toBe('translate');
    expect(nextStageOf(pipeline, 'draft')).toBeUndefined();
    expect(laneOfState(pipeline, 'TRANSLATED')).toBe('draft');
    expect(reenrichingStageOf(pipeline)?.name).toBe('draft');
  });

  it.each([
    ['no stage', [], 'a pipeline needs at least one stage'],
    ['a repeated name', [EXTRACT_STAGE, { ...DRAFT_STAGE, name: 'extract' }], 'repeats the name "extract"'],
    ['a repeated queue key', [EXTRACT_STAGE, { ...DRAFT_STAGE, queueKey: 'Intake' }], 'repeats the queue key "Intake"'],
    ['a repeated state', [EXTRACT_STAGE, { ...DRAFT_STAGE, working: ['EXTRACTING'] }], 'repeats the state EXTRACTING'],
    ['a last stage not ending in PUBLISHED', [EXTRACT_STAGE, MIDDLE], 'is the last stage, so it must end in PUBLISHED'],
    ['PUBLISHED before the end', [DRAFT_STAGE, MIDDLE], 'ends in PUBLISHED but is not last'],
    ['a stage named published', [{ ...DRAFT_STAGE, name: 'published' }], 'cannot be named published'],
    [
      'a state not in UPPER_SNAKE_CASE',
      [{ ...MIDDLE, done: 'PUBLISHED', working: ['Busy'] }],
      'not in UPPER_SNAKE_CASE',
    ],
    ['a stage without steps', [{ ...DRAFT_STAGE, steps: [] }], 'needs at least one LLM step'],
  ])('refuses %s, naming the stage and the rule', (_case, stages, message) => {
    // Act & Assess
    expect(() => definePipeline(stages as StageDefinition[])).toThrow(PipelineDefinitionError);
    expect(() => definePipeline(stages as StageDefinition[])).toThrow(message);
  });

  it('names the stages there are when asked for one it does not have', () => {
    // Act & Assess
    expect(() => stageOf(PIPELINE, 'translate')).toThrow(/extract, draft/);
  });
});
