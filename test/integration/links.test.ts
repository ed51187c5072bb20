import type { Link } from 'mdast';
import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmFromMarkdown } from 'mdast-util-gfm';
import { gfm } from 'micromark-extension-gfm';
import { visit } from 'unist-util-visit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishedEventSchema } from '#shared/schemas.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';

/**
 * Links in and out: an item's `url` reaches the draft prompt and becomes the post's source link, so only http and
 * https are accepted at intake; and whatever links the model writes, the published post links only to http and
 * https. The handlers are invoked directly, as the event source would, so each test sees exactly its own calls.
 */

const article = (id: string, url?: string) => ({
  id,
  title: `Links test ${id}`,
  body:
    'The announcement was made on Tuesday by Example Corp in Berlin. Engineers said the cloud platform now ' +
    'serves 40 percent more requests than last year.',
  source: 'test',
  ...(url === undefined ? {} : { url }),
});

/** Every link, image and definition URL a CommonMark renderer with GitHub's extensions would link to. */
function linkTargets(markdown: string): string[] {
  const tree = fromMarkdown(markdown, { extensions: [gfm()], mdastExtensions: [gfmFromMarkdown()] });
  const urls: string[] = [];
  visit(tree, (node) => {
    if (node.type === 'link' || node.type === 'image' || node.type === 'definition') urls.push((node as Link).url);
    if (node.type === 'html') urls.push(`html:${node.value}`);
  });
  return urls;
}

describe('Pipeline: only http and https links, in and out', () => {
  let pipeline: TestPipeline;

  beforeAll(async () => {
    pipeline = await startTestPipeline();
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('dead-letters items whose url is javascript:, data:, file: or vbscript:, naming the field and scheme, with no LLM call', async () => {
    // Prepare
    const items = [
      article('url-javascript', 'javascript:alert(document.cookie)'),
      article('url-data', 'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=='),
      article('url-file', 'file:///etc/passwd'),
      article('url-vbscript', 'vbscript:msgbox("x")'),
    ];
    const callsBefore = pipeline.llm.calls.length;

    // Act
    const response = await pipeline.invoke(
      'extract',
      items.map((item) => JSON.stringify(item)),
    );
    const dead = await pipeline.receiveAll('IntakeDeadLetterQueueUrl', items.length);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    expect(pipeline.llm.calls.length).toBe(callsBefore);
    const byItem = new Map(dead.map((message) => [message.MessageAttributes?.itemId?.StringValue, message]));
    expect([...byItem.keys()].sort()).toEqual(items.map((item) => item.id).sort());
    for (const item of items) {
      const scheme = `${item.url?.split(':')[0]}:`;
      const message = byItem.get(item.id);
      expect(message?.MessageAttributes?.errorClass?.StringValue).toBe('InvalidItemError');
      expect(message?.MessageAttributes?.errorMessage?.StringValue).toBe(
        `invalid item: url: must be an http or https URL, not ${scheme} (got ${JSON.stringify(item.url)})`,
      );
      const record = await pipeline.item(item.id);
      expect(record?.state).toBe('DEAD_LETTER');
      expect(record?.deadLetter?.errorClass).toBe('InvalidItemError');
      expect(record?.history.map((h) => h.state)).toEqual(['RECEIVED', 'DEAD_LETTER']);
      expect(await pipeline.ledger(item.id)).toEqual([]);
    }
  });

  it("publishes an item's https URL as the post's source link", async () => {
    // Prepare
    const item = article('url-https', 'https://news.example.com/2026/queues?ref=feed');

    // Act
    await pipeline.invoke('extract', [JSON.stringify(item)]);
    await pipeline.invoke('draft', [JSON.stringify({ itemId: item.id })]);
    const [message] = await pipeline.receiveAll('PublishedQueueUrl', 1);

    // Assess
    const event = publishedEventSchema.parse(JSON.parse(message?.Body ?? '{}'));
    expect(event.itemId).toBe(item.id);
    expect(linkTargets(event.markdown)).toContain(item.url);
  });

  it('publishes links the model wrote with other schemes as plain text, keeping its https links', async () => {
    // Prepare: the model answers the draft with hostile links, and the critic accepts it
    const itemId = 'model-links';
    await pipeline.invoke('extract', [JSON.stringify(article(itemId))]);
    const markdown = [
      '# Queues got faster',
      '',
      'Read [x](javascript:alert(1)) or [the report](https://example.com/report).',
      '',
      'More: <javascript:alert(2)>, [y][evil], ![chart](data:image/svg+xml;base64,PHN2Zz4=) and',
      '<a href="vbscript:msgbox(1)">this</a>, [z](JAVA\tSCRIPT:alert(3)).',
      '',
      '[evil]: file:///etc/passwd',
    ].join('\n');
    pipeline.llm.failWhen((request) =>
      request.itemId === itemId && request.format.name === 'blog_draft'
        ? { content: JSON.stringify({ title: 'Queues got faster', markdown, citedClaims: [] }) }
        : undefined,
    );
    pipeline.llm.failWhen((request) =>
      request.itemId === itemId && request.format.name === 'draft_review'
        ? { content: JSON.stringify({ verdict: 'accept', feedback: 'fine', unsupportedClaims: [] }) }
        : undefined,
    );

    // Act
    const response = await pipeline.invoke('draft', [JSON.stringify({ itemId })]);
    const [message] = await pipeline.receiveAll('PublishedQueueUrl', 1);

    // Assess
    expect(response.batchItemFailures).toEqual([]);
    const event = publishedEventSchema.parse(JSON.parse(message?.Body ?? '{}'));
    expect(event.itemId).toBe(itemId);
    expect(linkTargets(event.markdown)).toEqual(['https://example.com/report']);
    expect(event.markdown).toContain('Read x or [the report](https://example.com/report).');
    for (const text of ['y', 'chart', 'this', 'z']) expect(event.markdown).toContain(text);
    expect((await pipeline.item(itemId))?.state).toBe('PUBLISHED');
  });
});
