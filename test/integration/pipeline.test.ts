import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queueDepth } from '#ops/queue-io.ts';
import { InjectedCrash, LlmCallError, MemoryUnavailableError } from '#shared/errors.ts';
import { publishedEventSchema } from '#shared/schemas.ts';
import { itemKey } from '#shared/table-keys.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';

/** Items written for these tests: long enough to pass validation, on overlapping topics. */
const article = (id: string, title: string, topic: string) => ({
  id,
  title,
  body:
    `${title}. The announcement was made on Tuesday by Example Corp in Berlin. ` +
    `Engineers said the ${topic} platform now serves 40 percent more requests than last year. ` +
    `Critics argue that the ${topic} market is becoming concentrated among a few providers.`,
  source: 'test',
  publishedAt: '2026-11-01T10:00:00Z',
});

/** The default `retentionDays`, 90. */
const RETENTION_SECONDS = 90 * 86_400;

describe('Pipeline: end to end on the embedded emulators', () => {
  let pipeline: TestPipeline;

  beforeAll(async () => {
    pipeline = await startTestPipeline();
    pipeline.dev.start();
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('publishes items dropped on the printed intake URL by a plain AWS SDK client', async () => {
    // Prepare: a client that knows only what the outputs file and the printed endpoint say
    const outputsFile = join(tmpdir(), `sluice-outputs-${process.pid}.json`);
    await pipeline.dev.local.writeOutputs(outputsFile);
    const outputs = JSON.parse(await readFile(outputsFile, 'utf8')).Sluice as Record<string, string>;
    const { endpoints } = pipeline.dev.local;
    const sqs = new SQSClient({
      endpoint: endpoints.sqs,
      region: endpoints.region,
      credentials: { accessKeyId: 'any', secretAccessKey: 'any' },
    });
    const items = [
      article('e2e-1', 'Serverless queues get faster', 'cloud'),
      article('e2e-2', 'A new database engine ships', 'databases'),
      article('e2e-3', 'Solar output hits a record', 'energy'),
    ];

    // Act
    await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: outputs.IntakeQueueUrl,
        Entries: items.map((item, index) => ({ Id: String(index), MessageBody: JSON.stringify(item) })),
      }),
    );
    const published = await pipeline.receiveAll('PublishedQueueUrl', 3);

    // Assess
    const events = published.map((message) => publishedEventSchema.parse(JSON.parse(message.Body ?? '')));
    expect(events.map((event) => event.itemId).sort()).toEqual(['e2e-1', 'e2e-2', 'e2e-3']);
    // What a downstream consumer needs, in the event itself (docs/published-event.md)
    const first = events.find((event) => event.itemId === 'e2e-1');
    const extracted = (await pipeline.item('e2e-1'))?.knowledge;
    expect(first).toMatchObject({
      schemaVersion: 1,
      generation: 0,
      sequence: first?.revision,
      source: { title: 'Serverless queues get faster', source: 'test', publishedAt: '2026-11-01T10:00:00Z' },
      knowledge: {
        summary: extracted?.summary,
        topics: extracted?.topics,
        entities: extracted?.entities,
        language: extracted?.language,
      },
    });
    for (const item of items) {
      const record = await pipeline.waitForItem(item.id, (r) => r.state === 'PUBLISHED');
      const states = record.history.map((h) => h.state);
      expect(states.slice(0, 5)).toEqual(['RECEIVED', 'EXTRACTING', 'EXTRACTED', 'DRAFTING', 'REVIEWING']);
      expect(states.at(-1)).toBe('PUBLISHED');
      expect(record.leaseOwner).toBeUndefined();
      expect(record.usage?.extract?.calls).toBe(1);
      expect(record.usage?.draft?.calls).toBeGreaterThanOrEqual(2);
      // Kept the default 90 days after its publication, then left to DynamoDB's TTL
      expect(record.expiresAt).toBe(Math.ceil(Date.parse(record.updatedAt) / 1000) + RETENTION_SECONDS);
    }
    sqs.destroy();
  });

  it('dead-letters invalid items at once, with the reason, without an LLM call', async () => {
    // Prepare
    const callsBefore = pipeline.llm.calls.length;
    const invalid = [
      { body: 'not json at all', expectedId: undefined, reason: 'not JSON' },
      { body: JSON.stringify({ id: 'bad-1', title: 'No body here' }), expectedId: 'bad-1', reason: 'body' },
      {
        body: JSON.stringify({ ...article('x', 'Bad id', 'cloud'), id: 'has spaces' }),
        expectedId: undefined,
        reason: 'id',
      },
    ];

    // Act
    for (const { body } of invalid) await pipeline.send('IntakeQueueUrl', body);
    const dead = await pipeline.receiveAll('IntakeDeadLetterQueueUrl', 3);

    // Assess
    expect(dead).toHaveLength(3);
    for (const message of dead) {
      expect(message.MessageAttributes?.errorClass?.StringValue).toBe('InvalidItemError');
      expect(message.MessageAttributes?.stage?.StringValue).toBe('extract');
      const itemId = message.MessageAttributes?.itemId?.StringValue ?? '';
      const record = await pipeline.waitForItem(itemId, (r) => r.state === 'DEAD_LETTER');
      expect(record.deadLetter?.errorClass).toBe('InvalidItemError');
      expect(record.history.map((h) => h.state)).toEqual(['RECEIVED', 'DEAD_LETTER']);
      expect(await pipeline.ledger(itemId)).toEqual([]);
    }
    const reasons = dead.map((m) => m.MessageAttributes?.errorMessage?.StringValue ?? '').join('\n');
    expect(reasons).toMatch(/not JSON/);
    expect(reasons).toMatch(/body/);
    expect(reasons).toMatch(/id/);
    expect(dead.some((m) => m.MessageAttributes?.itemId?.StringValue === 'bad-1')).toBe(true);
    expect(pipeline.llm.calls.length).toBe(callsBefore);
  });
});

describe('Pipeline: characters above U+FFFF, which SQS accepts', () => {
  let pipeline: TestPipeline;

  beforeAll(async () => {
    pipeline = await startTestPipeline();
    pipeline.dev.start();
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  /** An item whose title and body carry emoji (one a ZWJ sequence, one a flag) and a CJK Extension B ideograph. */
  const astralItem = (id: string) => ({
    id,
    title: 'Launch day 🚀 for the 𠜎 team',
    body:
      'Example Corp announced its new queue service in Berlin 🇩🇪 on Tuesday 🚀. ' +
      'Engineers 👩‍💻 said the platform now serves 40 percent more requests than last year 📈. ' +
      'The 𠜎 character and the 𝔘 letter are handled like any other text.',
    source: 'social',
    publishedAt: '2026-11-01T10:00:00Z',
  });
  const ASTRAL = ['🚀', '🇩🇪', '👩‍💻', '📈', '𠜎', '𝔘'];

  async function publishedEvent(itemId: string) {
    const [message] = await pipeline.receiveAll('PublishedQueueUrl', 1);
    const event = publishedEventSchema.parse(JSON.parse(message?.Body ?? '{}'));
    expect(event.itemId).toBe(itemId);
    return event;
  }

  it('publishes an item with emoji in its title and body, the characters intact', async () => {
    // Prepare
    const item = astralItem('astral-1');

    // Act
    await pipeline.send('IntakeQueueUrl', JSON.stringify(item));
    const event = await publishedEvent(item.id);

    // Assess: the extract model's knowledge and the draft model's post carry every character, unmangled
    const record = await pipeline.waitForItem(item.id, (r) => r.state === 'PUBLISHED');
    expect(event.title).toBe(item.title);
    const knowledge = JSON.stringify(record.knowledge);
    for (const character of ASTRAL) {
      expect(knowledge).toContain(character);
      expect(event.markdown).toContain(character);
    }
    expect(event.markdown).not.toContain('\uFFFD');
    expect(record.history.map((h) => h.state).at(-1)).toBe('PUBLISHED');
  });

  it('publishes an item whose intake message escaped its emoji, once the model answers with them', async () => {
    // Prepare: the producer wrote the characters as JSON escapes, so only the stages' own messages carry them raw
    const item = astralItem('astral-2');
    // As Python's json.dumps writes them: every code unit past ASCII as \uXXXX, an astral character as its pair.
    const escaped = JSON.stringify(item).replace(
      /[\u0080-\uFFFF]/g,
      (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
    expect(escaped).toMatch(/^[\x20-\x7E]*$/);

    // Act
    await pipeline.send('IntakeQueueUrl', escaped);
    const record = await pipeline.waitForItem(item.id, (r) => r.state === 'PUBLISHED' || r.state === 'DEAD_LETTER');

    // Assess: published after the paid calls, not dead-lettered when the stage hands its answer on
    expect(record.deadLetter).toBeUndefined();
    expect(record.state).toBe('PUBLISHED');
    const event = await publishedEvent(item.id);
    expect(event.title).toBe(item.title);
    for (const character of ASTRAL) expect(event.markdown).toContain(character);
    const ledger = await pipeline.ledger(item.id);
    expect(ledger.filter((call) => call.outcome !== 'ok')).toEqual([]);
    expect(await pipeline.receiveAll('DraftDeadLetterQueueUrl', 1, 2000)).toEqual([]);
  });
});

describe('Pipeline: redelivery, crashes and redrive pay nothing twice', () => {
  let pipeline: TestPipeline;

  beforeAll(async () => {
    pipeline = await startTestPipeline();
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('makes no second LLM call when the same messages are delivered again', async () => {
    // Prepare: one item all the way through, by invoking the handlers as the event source would
    const body = JSON.stringify(article('dup-1', 'Duplicated delivery', 'cloud'));
    await pipeline.invoke('extract', [body]);
    await pipeline.invoke('draft', [JSON.stringify({ itemId: 'dup-1' })]);
    const first = await pipeline.item('dup-1');
    const paid = pipeline.llm.callsFor('dup-1').length;

    // Act: the intake message and the draft message arrive again
    const extractAgain = await pipeline.invoke('extract', [body, body]);
    const draftAgain = await pipeline.invoke('draft', [JSON.stringify({ itemId: 'dup-1' })]);

    // Assess
    expect(first?.state).toBe('PUBLISHED');
    expect(paid).toBeGreaterThanOrEqual(3);
    expect(extractAgain.batchItemFailures).toEqual([]);
    expect(draftAgain.batchItemFailures).toEqual([]);
    expect(pipeline.llm.callsFor('dup-1')).toHaveLength(paid);
    expect((await pipeline.item('dup-1'))?.version).toBe(first?.version);
    expect(await pipeline.receiveAll('PublishedQueueUrl', 1)).toHaveLength(1);
  });

  it('resumes a draft from the ledger in a later delivery, paying only for the step that failed', async () => {
    // Prepare: the item is extracted; the first review call fails and the provider asks for a long wait
    const itemId = 'resume-1';
    await pipeline.invoke('extract', [JSON.stringify(article(itemId, 'Resumed after a failure', 'security'))]);
    pipeline.llm.failWhen((request) =>
      request.itemId === itemId && request.format.name === 'draft_review'
        ? new LlmCallError('provider answered 503', { status: 503, retryable: true, retryAfterMs: 60_000 })
        : undefined,
    );

    // Act: the first delivery hands the message back to wait; the next delivery resumes
    const first = await pipeline.invoke('draft', [JSON.stringify({ itemId })]);
    const afterFailure = await pipeline.item(itemId);
    const second = await pipeline.invoke('draft', [JSON.stringify({ itemId })]);

    // Assess
    expect(first.batchItemFailures).toEqual([]);
    expect(afterFailure?.state).toBe('REVIEWING');
    expect(afterFailure?.attempts.draft).toBe(1);
    expect(afterFailure?.lastError?.errorClass).toBe('LlmCallError');
    expect(afterFailure?.leaseOwner).toBeUndefined();
    expect(second.batchItemFailures).toEqual([]);
    expect((await pipeline.item(itemId))?.state).toBe('PUBLISHED');
    const ledger = await pipeline.ledger(itemId);
    const drafts = ledger.filter((call) => call.step.startsWith('draft.'));
    const providerDrafts = pipeline.llm.callsFor(itemId).filter((call) => call.format === 'blog_draft');
    expect(providerDrafts).toHaveLength(drafts.length);
    expect(new Set(ledger.map((call) => `${call.step}#${call.n}`)).size).toBe(ledger.length);
  });

  it('retries a transient failure in the same invocation, counting the attempt', async () => {
    // Prepare
    const itemId = 'transient-1';
    pipeline.llm.failWhen((request) =>
      request.itemId === itemId
        ? new LlmCallError('provider answered 502', { status: 502, retryable: true })
        : undefined,
    );

    // Act
    const outcome = await pipeline.invoke('extract', [JSON.stringify(article(itemId, 'A passing failure', 'ai'))]);

    // Assess
    expect(outcome.batchItemFailures).toEqual([]);
    const item = await pipeline.item(itemId);
    expect(item?.state).toBe('EXTRACTED');
    expect(item?.attempts.extract).toBe(1);
    expect(item?.lastError?.message).toMatch(/502/);
  });

  it('dead-letters after the failure budget and resumes from the checkpoint when redriven', async () => {
    // Prepare: the model answers this item with output that breaks the schema, three times (paid calls)
    const itemId = 'budget-1';
    const body = JSON.stringify(article(itemId, 'Keeps failing', 'policy'));
    for (let i = 0; i < 3; i += 1) {
      pipeline.llm.failWhen((request) => (request.itemId === itemId ? { content: '{"summary": "cut' } : undefined));
    }

    // Act
    const outcome = await pipeline.invoke('extract', [body]);
    const dead = await pipeline.item(itemId);
    const paid = await pipeline.ledger(itemId);
    // The redrive delivers the dead letter itself: its body and attributes, the dead-letter id among them
    const [dlqMessage] = await pipeline.receiveAll('IntakeDeadLetterQueueUrl', 1);
    const redriven = await pipeline.invoke('extract', [dlqMessage ?? body]);

    // Assess
    expect(outcome.batchItemFailures).toEqual([]);
    expect(dead?.state).toBe('DEAD_LETTER');
    expect(dead?.expiresAt).toBe(Math.ceil(Date.parse(dead?.updatedAt ?? '') / 1000) + RETENTION_SECONDS);
    expect(dead?.deadLetter).toMatchObject({ stage: 'extract', errorClass: 'InvalidOutputError', attempts: 3 });
    expect(paid.map((call) => call.outcome)).toEqual(['invalid-output', 'invalid-output', 'invalid-output']);
    // Retries after an answer that was paid for and ledgered are new calls, not repeats of a lost one.
    expect(paid.filter((call) => call.rebilled)).toEqual([]);
    expect(dlqMessage?.MessageAttributes?.attempts?.StringValue).toBe('3');
    expect(dlqMessage?.MessageAttributes?.deadLetterId?.StringValue).toBe(dead?.deadLetter?.deadLetterId);
    expect(redriven.batchItemFailures).toEqual([]);
    const resumed = await pipeline.item(itemId);
    expect(resumed?.state).toBe('EXTRACTED');
    expect(resumed?.expiresAt).toBeUndefined();
    expect(resumed?.attempts.extract).toBe(0);
    expect(resumed?.usage?.extract?.calls).toBe(4);
  });

  it('dead-letters at once on a permanent provider error', async () => {
    // Prepare
    pipeline.llm.failWhen((request) =>
      request.itemId === 'perm-1'
        ? new LlmCallError('provider answered 401', { status: 401, retryable: false })
        : undefined,
    );

    // Act
    const outcome = await pipeline.invoke('extract', [JSON.stringify(article('perm-1', 'Unauthorized call', 'ai'))]);

    // Assess
    expect(outcome.batchItemFailures).toEqual([]);
    const item = await pipeline.item('perm-1');
    expect(item?.state).toBe('DEAD_LETTER');
    expect(item?.deadLetter).toMatchObject({ errorClass: 'LlmCallError', attempts: 1 });
  });
});

describe('Pipeline: the failure budget is per step', () => {
  let pipeline: TestPipeline;

  beforeAll(async () => {
    pipeline = await startTestPipeline();
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  const serverError = (retryAfterMs?: number) =>
    new LlmCallError('provider answered 503', { status: 503, retryable: true, retryAfterMs });

  it('publishes a draft whose draft and review steps each met a passing burst of 5xx', async () => {
    // Prepare: the draft call fails twice, then the review call fails twice: four failures in one stage, none
    // more than two in a row on one piece of work
    const itemId = 'bursts-1';
    await pipeline.invoke('extract', [JSON.stringify(article(itemId, 'Two short bursts', 'cloud'))]);
    for (const format of ['blog_draft', 'blog_draft', 'draft_review', 'draft_review']) {
      pipeline.llm.failWhen((request) =>
        request.itemId === itemId && request.format.name === format ? serverError() : undefined,
      );
    }

    // Act
    const outcome = await pipeline.invoke('draft', [JSON.stringify({ itemId })]);

    // Assess
    expect(outcome.batchItemFailures).toEqual([]);
    const item = await pipeline.item(itemId);
    expect(item?.deadLetter).toBeUndefined();
    expect(item?.state).toBe('PUBLISHED');
  });

  it('still dead-letters a step that keeps failing, though the steps it replays from the ledger were answered', async () => {
    // Prepare: the draft call is answered with broken output once, then properly; every review call is answered
    // with broken output (paid calls that fail, which say nothing about the provider's health)
    const itemId = 'bursts-2';
    await pipeline.invoke('extract', [JSON.stringify(article(itemId, 'A review that never parses', 'ai'))]);
    pipeline.llm.failWhen((request) =>
      request.itemId === itemId && request.format.name === 'blog_draft' ? { content: '{"title": "cut' } : undefined,
    );
    for (let i = 0; i < 4; i += 1) {
      pipeline.llm.failWhen((request) =>
        request.itemId === itemId && request.format.name === 'draft_review' ? { content: '{"verdict' } : undefined,
      );
    }

    // Act
    const outcome = await pipeline.invoke('draft', [JSON.stringify({ itemId })]);

    // Assess: the review's own three failures spend the budget; the draft's earlier failure is not added to them
    expect(outcome.batchItemFailures).toEqual([]);
    const item = await pipeline.item(itemId);
    expect(item?.state).toBe('DEAD_LETTER');
    expect(item?.deadLetter).toMatchObject({ stage: 'draft', errorClass: 'InvalidOutputError', attempts: 3 });
    const ledger = await pipeline.ledger(itemId);
    const steps = ledger.filter((call) => call.stage === 'draft').map((call) => `${call.step} ${call.outcome}`);
    expect(steps).toEqual([
      'draft.0 invalid-output',
      'draft.0 ok',
      'review.0 invalid-output',
      'review.0 invalid-output',
      'review.0 invalid-output',
    ]);
  });
});

describe('Pipeline: the memory store', () => {
  let pipeline: TestPipeline;

  beforeAll(async () => {
    pipeline = await startTestPipeline();
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('gives a draft the related past items it remembers', async () => {
    // Prepare: one item published first
    await pipeline.invoke('extract', [JSON.stringify(article('mem-1', 'Cloud costs fall again', 'cloud'))]);
    await pipeline.invoke('draft', [JSON.stringify({ itemId: 'mem-1' })]);

    // Act: a second item on the same topic
    await pipeline.invoke('extract', [JSON.stringify(article('mem-2', 'Cloud regions expand', 'cloud'))]);
    await pipeline.invoke('draft', [JSON.stringify({ itemId: 'mem-2' })]);

    // Assess
    const second = await pipeline.item('mem-2');
    expect(second?.state).toBe('PUBLISHED');
    expect(second?.publication?.relatedItemIds).toContain('mem-1');
    expect(second?.degraded ?? []).not.toContain('NO_HISTORY');
  });

  it('drafts without history, flagged degraded, when the memory table is gone', async () => {
    // Prepare: take the memory table away
    const dynamo = new DynamoDBClient(pipeline.dev.local.clientConfig('dynamodb'));
    await dynamo.send(new DeleteTableCommand({ TableName: pipeline.outputs.MemoryTableName }));
    dynamo.destroy();

    // Act
    await pipeline.invoke('extract', [JSON.stringify(article('mem-3', 'Cloud outage explained', 'cloud'))]);
    const outcome = await pipeline.invoke('draft', [JSON.stringify({ itemId: 'mem-3' })]);

    // Assess
    expect(outcome.batchItemFailures).toEqual([]);
    const item = await pipeline.item('mem-3');
    expect(item?.state).toBe('PUBLISHED');
    expect(item?.degraded).toContain('NO_HISTORY');
    // Listed where the supervisor looks for items to draft again
    expect(item?.awaitingHistory).toBe('NO_HISTORY');
    expect(item?.publication?.relatedItemIds).toEqual([]);
    const events = await pipeline.receiveAll('PublishedQueueUrl', 3);
    const event = events
      .map((m) => publishedEventSchema.parse(JSON.parse(m.Body ?? '')))
      .find((e) => e.itemId === 'mem-3');
    expect(event?.degraded).toContain('NO_HISTORY');
  });
});

describe('Pipeline: a failing provider', () => {
  let pipeline: TestPipeline;

  beforeAll(async () => {
    pipeline = await startTestPipeline({ config: { llm: { fallbackModel: 'gpt-4.1-mini' } } });
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('opens the model breaker after consecutive provider failures and switches to the fallback model', async () => {
    // Prepare: three items whose calls to the extract model fail with 503 (their retries included)
    const failing = new Set(['down-1', 'down-2', 'down-3']);
    for (let i = 0; i < 9; i += 1) {
      pipeline.llm.failWhen((request) =>
        failing.has(request.itemId) && request.model === 'gpt-4o-mini'
          ? new LlmCallError('provider answered 503', { status: 503, retryable: true })
          : undefined,
      );
    }

    // Act
    for (const id of failing) await pipeline.invoke('extract', [JSON.stringify(article(id, `Outage ${id}`, 'cloud'))]);
    await pipeline.invoke('extract', [JSON.stringify(article('after-1', 'After the outage', 'cloud'))]);

    // Assess: the breaker is open, and the next item was extracted by the fallback model
    const [after] = await pipeline.ledger('after-1');
    expect(after?.model).toBe('gpt-4.1-mini');
    expect((await pipeline.item('after-1'))?.state).toBe('EXTRACTED');
    const breaker = await pipeline.dev.dynamo.send(
      new GetCommand({ TableName: pipeline.outputs.StateTableName, Key: { pk: 'BREAKER#gpt-4o-mini', sk: 'BREAKER' } }),
    );
    expect(breaker.Item?.state).toBe('open');
    for (const id of failing) {
      // The outage is the provider's, not the items': they wait or move to the fallback, never dead-lettered.
      const item = await pipeline.item(id);
      expect(['EXTRACTING', 'EXTRACTED']).toContain(item?.state);
      expect(item?.attempts.extract).toBeLessThan(3);
    }
  });
});

describe('Pipeline: waiting is not failing', () => {
  let pipeline: TestPipeline;

  beforeAll(async () => {
    pipeline = await startTestPipeline();
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('hands an item back without counting an attempt when the provider answers 429 for long', async () => {
    // Prepare
    const itemId = 'limited-1';
    pipeline.llm.failWhen((request) =>
      request.itemId === itemId
        ? new LlmCallError('provider answered 429', { status: 429, retryable: true, retryAfterMs: 30_000 })
        : undefined,
    );

    // Act
    const outcome = await pipeline.invoke('extract', [JSON.stringify(article(itemId, 'Rate limited', 'ai'))]);

    // Assess: acknowledged, sent back to wait, no attempt spent, the wait recorded
    expect(outcome.batchItemFailures).toEqual([]);
    const item = await pipeline.item(itemId);
    expect(item?.state).toBe('EXTRACTING');
    expect(item?.attempts.extract).toBe(0);
    expect(item?.deferrals).toBe(1);
    expect(item?.leaseOwner).toBeUndefined();
    const depth = await queueDepth(pipeline.dev.sqs, pipeline.outputs.IntakeQueueUrl ?? '');
    expect(depth.delayed + depth.visible).toBe(1);
  });
});

describe('Pipeline: re-enrichment', () => {
  let pipeline: TestPipeline;
  let memoryDown = false;

  beforeAll(async () => {
    pipeline = await startTestPipeline({
      decorate: (runtime) => {
        // The memory store of this pipeline fails its lookups while `memoryDown` is set.
        const lookup = runtime.memory.findRelated.bind(runtime.memory);
        runtime.memory.findRelated = async (query) => {
          if (memoryDown) throw new MemoryUnavailableError('memory lookup failed: the store is down');
          return lookup(query);
        };
        return runtime;
      },
    });
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('drafts a NO_HISTORY item again with history once the memory answers, as a new publication', async () => {
    // Prepare: one item remembered, then one published while the memory is down
    await pipeline.invoke('extract', [JSON.stringify(article('re-1', 'Cloud prices drop', 'cloud'))]);
    await pipeline.invoke('draft', [JSON.stringify({ itemId: 're-1' })]);
    memoryDown = true;
    await pipeline.invoke('extract', [JSON.stringify(article('re-2', 'Cloud capacity grows', 'cloud'))]);
    await pipeline.invoke('draft', [JSON.stringify({ itemId: 're-2' })]);
    const degraded = await pipeline.item('re-2');
    memoryDown = false;
    const paidBefore = pipeline.llm.callsFor('re-2').length;

    // Act
    await pipeline.invoke('draft', [JSON.stringify({ itemId: 're-2', reenrich: true })]);
    const again = await pipeline.invoke('draft', [JSON.stringify({ itemId: 're-2', reenrich: true })]);

    // Assess
    expect(degraded?.degraded).toContain('NO_HISTORY');
    expect(degraded?.awaitingHistory).toBe('NO_HISTORY');
    const item = await pipeline.item('re-2');
    expect(item?.state).toBe('PUBLISHED');
    expect(item?.generation).toBe(1);
    expect(item?.degraded ?? []).not.toContain('NO_HISTORY');
    expect(item?.awaitingHistory).toBeUndefined();
    expect(item?.publication?.relatedItemIds).toContain('re-1');
    expect(item?.publication?.publicationId).toMatch(/^re-2#g1#\d+$/);
    const states = item?.history.map((h) => h.state) ?? [];
    expect(states.indexOf('PUBLISHED')).toBeLessThan(states.lastIndexOf('DRAFTING'));
    expect(states.at(-1)).toBe('PUBLISHED');
    expect(again.batchItemFailures).toEqual([]);
    const paidForReenrichment = pipeline.llm.callsFor('re-2').length - paidBefore;
    expect(paidForReenrichment).toBeGreaterThanOrEqual(2);
    const ledger = await pipeline.ledger('re-2');
    expect(ledger.filter((call) => call.step.startsWith('g1.'))).toHaveLength(paidForReenrichment);
    const events = (await pipeline.receiveAll('PublishedQueueUrl', 3))
      .map((m) => publishedEventSchema.parse(JSON.parse(m.Body ?? '')))
      .filter((event) => event.itemId === 're-2');
    expect(new Set(events.map((event) => event.publicationId)).size).toBe(2);
    // A consumer orders the posts by sequence: the re-enrichment's comes after the first, whatever the revisions
    const [before, after] = [...events].sort((a, b) => a.generation - b.generation);
    expect(after?.generation).toBe(1);
    expect(after?.sequence).toBeGreaterThan(before?.sequence ?? Number.POSITIVE_INFINITY);
  });
});

describe('Pipeline: a crash between a response and its ledger write', () => {
  let pipeline: TestPipeline;
  let crashes = 0;

  beforeAll(async () => {
    pipeline = await startTestPipeline({
      faults: {
        crashPoint: (point, itemId) => {
          if (point === 'after-llm-response' && itemId === 'rebill-1' && crashes === 0) {
            crashes += 1;
            throw new InjectedCrash(point);
          }
        },
      },
    });
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('marks the repeated call re-billed, even when the repeat first meets a 429', async () => {
    // Prepare
    const body = JSON.stringify(article('rebill-1', 'Paid twice, and said so', 'finance'));

    // Act: the first delivery dies after the provider answered; the next one is refused once, then answered
    await expect(pipeline.invoke('extract', [body])).rejects.toBeInstanceOf(InjectedCrash);
    // Time passes: the crashed invocation's lease lapses (faked by moving its expiry into the past).
    await pipeline.dev.dynamo.send(
      new UpdateCommand({
        TableName: pipeline.outputs.StateTableName,
        Key: itemKey('rebill-1'),
        UpdateExpression: 'SET leaseUntil = :past',
        ExpressionAttributeValues: { ':past': 0 },
      }),
    );
    pipeline.llm.failWhen((request) =>
      request.itemId === 'rebill-1'
        ? new LlmCallError('provider answered 429', { status: 429, retryable: true, retryAfterMs: 10 })
        : undefined,
    );
    await pipeline.invoke('extract', [body]);

    // Assess: two answered calls at the provider, one ledger entry, flagged as the repeat it is
    expect(pipeline.llm.callsFor('rebill-1').filter((call) => call.format === 'knowledge_extraction')).toHaveLength(2);
    const ledger = await pipeline.ledger('rebill-1');
    expect(ledger).toHaveLength(1);
    expect(ledger[0]?.rebilled).toBe(true);
    expect((await pipeline.item('rebill-1'))?.state).toBe('EXTRACTED');
    expect(pipeline.metrics.sum('RebilledCalls')).toBe(1);
  });
});
