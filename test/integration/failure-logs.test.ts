import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { LlmCallError, MemoryUnavailableError } from '#shared/errors.ts';
import { startTestPipeline, type TestPipeline } from '../support/pipeline.ts';

const article = (id: string, title: string) => ({
  id,
  title,
  body:
    `${title}. The announcement was made on Tuesday by Example Corp in Berlin. ` +
    'Engineers said the cloud platform now serves 40 percent more requests than last year.',
});

type LogLine = Record<string, unknown>;

function parseLogLine(text: string): LogLine | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const line: unknown = JSON.parse(text);
    return typeof line === 'object' && line !== null ? (line as LogLine) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The stages' log lines are what an operator searches when an item fails: each failure line must carry the error
 * text, under a key the logger keeps. Powertools Logger drops reserved keys (`message`, `level`, `timestamp`,
 * `service`, `sampling_rate`) from a line's attributes, printing a warning instead.
 */
describe('Pipeline: failure log lines', () => {
  let pipeline: TestPipeline;
  const lines: LogLine[] = [];

  beforeAll(async () => {
    pipeline = await startTestPipeline({
      logLevel: 'WARN',
      decorate: (runtime) => {
        const lookup = runtime.memory.findRelated.bind(runtime.memory);
        runtime.memory.findRelated = async (query) => {
          if (query.excludeItemId === 'log-memory') throw new MemoryUnavailableError('memory lookup timed out');
          return lookup(query);
        };
        return runtime;
      },
    });
    // Powertools writes each line as JSON, to stdout or (warnings and errors) stderr; everything else passes through.
    for (const stream of [process.stdout, process.stderr]) {
      const write = stream.write.bind(stream) as (...args: unknown[]) => boolean;
      vi.spyOn(stream, 'write').mockImplementation((chunk: string | Uint8Array, ...rest: unknown[]) => {
        for (const text of String(chunk).split('\n')) {
          const line = parseLogLine(text);
          if (line?.service === 'sluice') lines.push(line);
        }
        return write(chunk, ...rest);
      });
    }
  });

  afterAll(async () => {
    vi.restoreAllMocks();
    await pipeline?.stop();
  });

  const linesFor = (itemId: string, message: string) =>
    lines.filter((line) => line.itemId === itemId && line.message === message);

  it('logs the error class and text of a failed attempt', async () => {
    // Prepare
    pipeline.llm.failWhen((request) =>
      request.itemId === 'log-retry'
        ? new LlmCallError('provider answered 502: bad gateway', { status: 502, retryable: true })
        : undefined,
    );

    // Act
    await pipeline.invoke('extract', [JSON.stringify(article('log-retry', 'A passing failure'))]);

    // Assess
    const [line] = linesFor('log-retry', 'attempt failed');
    expect(line).toMatchObject({
      level: 'WARN',
      stage: 'extract',
      errorClass: 'LlmCallError',
      errorMessage: expect.stringContaining('provider answered 502: bad gateway'),
      attempts: 1,
    });
  });

  it('logs the error class and text of a dead letter', async () => {
    // Prepare: three answers that break the schema, each paid for
    for (let i = 0; i < 3; i += 1) {
      pipeline.llm.failWhen((request) => (request.itemId === 'log-dead' ? { content: '{"summary": "cut' } : undefined));
    }

    // Act
    await pipeline.invoke('extract', [JSON.stringify(article('log-dead', 'Keeps failing'))]);

    // Assess
    expect((await pipeline.item('log-dead'))?.state).toBe('DEAD_LETTER');
    const [line] = linesFor('log-dead', 'item dead-lettered');
    expect(line).toMatchObject({
      level: 'ERROR',
      stage: 'extract',
      errorClass: 'InvalidOutputError',
      errorMessage: expect.stringMatching(/output from .* is not valid/),
      attempts: 3,
    });
  });

  it('logs the error text when the memory fails and the draft goes ahead without history', async () => {
    // Act
    await pipeline.invoke('extract', [JSON.stringify(article('log-memory', 'Memory is down'))]);
    await pipeline.invoke('draft', [JSON.stringify({ itemId: 'log-memory' })]);

    // Assess
    const [line] = linesFor('log-memory', 'memory unavailable; drafting without history');
    expect(line).toMatchObject({ errorClass: 'MemoryUnavailableError', errorMessage: 'memory lookup timed out' });
  });

  it('prints no reserved-key warning', () => {
    // Assess: the tests above logged failures
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(lines.filter((line) => /reserved key/.test(String(line.message)))).toEqual([]);
  });
});
