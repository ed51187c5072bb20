import { describe, expect, it } from 'vitest';
import { checkItemFile, formatOfFile, ItemFileError, parseCsv } from '#cli/item-file.ts';

const body = 'A body long enough to pass the intake schema, about serverless queues.';
const item = (id: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ id, title: `Title ${id}`, body, ...extra });

describe('Function: checkItemFile', () => {
  describe('JSON Lines', () => {
    it('reports each bad line with its line number and reason, and keeps the rest to send', () => {
      // Prepare: blank lines count as lines but not as records
      const text = [item('a'), '', '{"id":"b","title":"t","body":"short"}', 'not json', item('c'), ''].join('\n');

      // Act
      const check = checkItemFile(text, 'jsonl');

      // Assess
      expect(check.records).toBe(4);
      expect(check.valid.map((line) => [line.line, line.itemId])).toEqual([
        [1, 'a'],
        [5, 'c'],
      ]);
      expect(check.bad).toEqual([
        { line: 3, itemId: 'b', reason: 'body: body must have at least 40 characters' },
        { line: 4, reason: expect.stringMatching(/^not JSON: /) },
      ]);
    });

    it('refuses unknown fields and a repeated id, naming the first line of that id', () => {
      // Act
      const check = checkItemFile([item('a'), item('b', { colour: 'red' }), item('a')].join('\r\n'), 'jsonl');

      // Assess
      expect(check.valid.map((line) => line.itemId)).toEqual(['a']);
      expect(check.bad).toEqual([
        { line: 2, itemId: 'b', reason: expect.stringMatching(/colour/) },
        { line: 3, itemId: 'a', reason: 'id a repeats line 1' },
      ]);
    });

    it('sends the validated item as the message body', () => {
      // Act
      const [valid] = checkItemFile(`\uFEFF${item('a', { source: 'feed' })}\n`, 'jsonl').valid;

      // Assess
      expect(JSON.parse(valid?.body ?? '')).toEqual({ id: 'a', title: 'Title a', body, source: 'feed' });
    });
  });

  describe('CSV', () => {
    it('reads the fields the header names, with quoted commas, quotes and line breaks, blank cells absent', () => {
      // Prepare: the second record spans lines 3-4, so the bad one after it is on line 5
      const text = [
        'id,title,body,source',
        `a,"Title, with a comma","${body}",`,
        `b,"Say ""hi""","${body}`,
        'and a second line",feed',
        'c,short,too short,',
      ].join('\r\n');

      // Act
      const check = checkItemFile(text, 'csv');

      // Assess
      expect(check.valid.map((line) => JSON.parse(line.body))).toEqual([
        { id: 'a', title: 'Title, with a comma', body },
        { id: 'b', title: 'Say "hi"', body: `${body}\r\nand a second line`, source: 'feed' },
      ]);
      expect(check.bad).toEqual([{ line: 5, itemId: 'c', reason: 'body: body must have at least 40 characters' }]);
    });

    it('reports a record with the wrong number of fields', () => {
      // Act
      const check = checkItemFile(`id,title,body\na,b\n`, 'csv');

      // Assess
      expect(check.bad).toEqual([{ line: 2, reason: 'has 2 field(s), the header has 3' }]);
    });

    it('refuses a header naming a field items do not have', () => {
      // Act / Assess
      expect(() => checkItemFile('id,title,body,colour\n', 'csv')).toThrow(ItemFileError);
      expect(() => checkItemFile('id,title,body,colour\n', 'csv')).toThrow(/unknown field\(s\) 'colour'/);
    });
  });
});

describe('Function: parseCsv', () => {
  it('reports an unterminated quote at the line its record starts on', () => {
    // Act
    const rows = parseCsv('id,title\n"a,b\nc\n');

    // Assess
    expect(rows).toEqual([
      { line: 1, fields: ['id', 'title'] },
      { line: 2, reason: 'a quoted field is never closed' },
    ]);
  });
});

describe('Function: formatOfFile', () => {
  it('tells the format by the extension, and nothing for others', () => {
    // Act / Assess
    expect(formatOfFile('items.CSV')).toBe('csv');
    expect(formatOfFile('items.jsonl')).toBe('jsonl');
    expect(formatOfFile('items.ndjson')).toBe('jsonl');
    expect(formatOfFile('items.txt')).toBeUndefined();
  });
});
