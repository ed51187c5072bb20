import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DRAFT_STAGE } from '#functions/draft/stage.ts';
import { EXTRACT_STAGE } from '#functions/extract/stage.ts';
import { stageConfigOf } from '#lib/config.ts';
import { definePipeline } from '#shared/pipeline.ts';
import { publishedEventSchema } from '#shared/schemas.ts';
import { TRANSLATE_STAGE } from '../fixtures/translate-stage/stage.ts';
import { translationSchema } from '../fixtures/translate-stage/translation.ts';
import { startTestPipeline, TEST_CONFIG, type TestPipeline } from '../support/pipeline.ts';

/** A pipeline sluice does not ship: a translate stage between extract and draft, declared in one list. */
const THREE_STAGES = definePipeline([EXTRACT_STAGE, TRANSLATE_STAGE, DRAFT_STAGE]);

const article = (id: string, title: string) => ({
  id,
  title,
  body:
    `${title}. The announcement was made on Tuesday by Example Corp in Berlin. ` +
    'Engineers said the platform now serves 40 percent more requests than last year.',
  source: 'test',
});

describe('Pipeline: a third stage declared beside the shipped two', () => {
  let pipeline: TestPipeline;

  beforeAll(async () => {
    pipeline = await startTestPipeline({
      pipeline: THREE_STAGES,
      config: {
        stages: {
          ...TEST_CONFIG.stages,
          translate: { timeoutSeconds: 10, reservedConcurrency: 2, maxConcurrency: 2 },
        },
      },
    });
    pipeline.dev.start();
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('deploys a queue, a DLQ and a function for it, with its own settings', () => {
    // Assess
    expect(THREE_STAGES.states).toEqual([
      'RECEIVED',
      'EXTRACTING',
      'EXTRACTED',
      'TRANSLATING',
      'TRANSLATED',
      'DRAFTING',
      'REVIEWING',
      'PUBLISHED',
      'DEAD_LETTER',
      'DISCARDED',
    ]);
    expect(pipeline.outputs.TranslateQueueUrl).toBeDefined();
    expect(pipeline.outputs.TranslateDeadLetterQueueUrl).toBeDefined();
    expect(pipeline.outputs.TranslateFunctionName).toBeDefined();
    expect(stageConfigOf(pipeline.dev.config, 'translate').maxConcurrency).toBe(2);
  });

  it('carries every item through extract, translate and draft to the published queue', async () => {
    // Prepare
    const items = [article('tri-1', 'Queues get faster'), article('tri-2', 'A new engine ships')];

    // Act
    for (const item of items) await pipeline.send('IntakeQueueUrl', JSON.stringify(item));
    const published = await pipeline.receiveAll('PublishedQueueUrl', items.length);

    // Assess
    const events = published.map((message) => publishedEventSchema.parse(JSON.parse(message.Body ?? '')));
    expect(events.map((event) => event.itemId).sort()).toEqual(['tri-1', 'tri-2']);
    for (const item of items) {
      const record = await pipeline.waitForItem(item.id, (r) => r.state === 'PUBLISHED');
      const states = record.history.map((entry) => entry.state);
      expect(states.slice(0, 6)).toEqual([
        'RECEIVED',
        'EXTRACTING',
        'EXTRACTED',
        'TRANSLATING',
        'TRANSLATED',
        'DRAFTING',
      ]);
      expect(record.usage?.translate?.calls).toBe(1);
      const [translation] = (await pipeline.ledger(item.id)).filter((call) => call.stage === 'translate');
      // The simulator answered a format it has no generator for from the schema the stage sent.
      const answered = translationSchema.parse(JSON.parse(translation?.content ?? ''));
      expect(record.knowledge?.summary).toBe(answered.summary);
    }
  });
});

describe('Pipeline: a step model changed in the config alone', () => {
  let pipeline: TestPipeline;

  beforeAll(async () => {
    pipeline = await startTestPipeline({
      config: {
        stages: {
          ...TEST_CONFIG.stages,
          draft: { ...TEST_CONFIG.stages.draft, steps: { review: { model: 'gpt-4o-mini' } } },
        },
      },
    });
    pipeline.dev.start();
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('reviews with the cheaper model while the draft keeps the stage model', async () => {
    // Act
    await pipeline.send('IntakeQueueUrl', JSON.stringify(article('rev-1', 'A cheaper reviewer')));
    await pipeline.waitForItem('rev-1', (item) => item.state === 'PUBLISHED');

    // Assess
    const modelsBy = (format: string) => [
      ...new Set(pipeline.llm.calls.filter((c) => c.format === format).map((c) => c.model)),
    ];
    expect(modelsBy('draft_review')).toEqual(['gpt-4o-mini']);
    expect(modelsBy('blog_draft')).toEqual(['gpt-4.1-mini']);
    const ledger = await pipeline.ledger('rev-1');
    expect(ledger.filter((call) => call.step.startsWith('review')).map((call) => call.model)).toContain('gpt-4o-mini');
  });
});
