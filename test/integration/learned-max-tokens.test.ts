import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sizeAttribute, sizeBucket } from '#shared/completion-sizes.ts';
import { usageKey } from '#shared/table-keys.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';

const item = (id: string) =>
  JSON.stringify({
    id,
    title: 'Serverless queues get faster',
    body:
      'The announcement was made on Tuesday by Example Corp in Berlin. Engineers said the cloud platform now ' +
      'serves 40 percent more requests than last year, and critics argue the market is concentrating.',
  });

describe('Pipeline: learned max_tokens', () => {
  let pipeline: TestPipeline;

  // A pipeline each: an instance reads the learned sizes at most once a minute.
  beforeEach(async () => {
    pipeline = await startTestPipeline();
  });

  afterEach(async () => {
    await pipeline?.stop();
  });

  /** Today's usage row of the extract stage says its answers were `tokens` long, `count` times. */
  const answersWere = (tokens: number, count: number) =>
    pipeline.dev.dynamo.send(
      new UpdateCommand({
        TableName: pipeline.outputs.StateTableName,
        Key: usageKey(new Date().toISOString().slice(0, 10), 'extract', 'gpt-4o-mini'),
        UpdateExpression: 'SET #stage = :stage ADD #size :count',
        ExpressionAttributeNames: { '#stage': 'stage', '#size': sizeAttribute('knowledge', sizeBucket(tokens)) },
        ExpressionAttributeValues: { ':stage': 'extract', ':count': count },
      }),
    );

  it('asks again at the configured maximum, once, when an answer is cut at the learned size', async () => {
    // Prepare: the day's answers were all short, so the learned size is the smallest a call asks for
    await answersWere(10, 50);

    // Act
    const outcome = await pipeline.invoke('extract', [item('learned-1')]);

    // Assess: the cut answer and the full one both paid and in the ledger, the item extracted in one attempt
    expect(outcome.batchItemFailures).toEqual([]);
    const calls = await pipeline.ledger('learned-1');
    expect(calls.map((call) => [call.outcome, call.finishReason, call.maxTokens])).toEqual([
      ['invalid-output', 'length', 64],
      ['ok', 'stop', 2048],
    ]);
    const record = await pipeline.item('learned-1');
    expect(record?.state).toBe('EXTRACTED');
    expect(record?.attempts.extract).toBe(0);
    expect(record?.usage?.extract?.calls).toBe(2);
  });

  it('asks for the learned size once the answers are known, and the answer fits', async () => {
    // Prepare: the day's answers were about as long as this stage's are
    await answersWere(600, 200);

    // Act
    const outcome = await pipeline.invoke('extract', [item('learned-2')]);

    // Assess
    expect(outcome.batchItemFailures).toEqual([]);
    const calls = await pipeline.ledger('learned-2');
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ outcome: 'ok', finishReason: 'stop' });
    expect(calls[0]?.maxTokens).toBeLessThan(2048);
  });
});
