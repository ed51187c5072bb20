import { describe, expect, it } from 'vitest';
import { checkItemFile, decodeItemFile, formatOfFile, ItemFileError } from '#cli/item-file.ts';

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

describe('Function: checkItemFile, broken CSV quoting', () => {
  it('refuses the file at the line an unterminated quote starts on, after multi-line CRLF records', () => {
    // Prepare: record 2 spans lines 2-3 with a CRLF inside its quotes; the unclosed quote opens on line 5
    const text = ['id,title,body', `a,"two\r\nlines","${body}"`, '', `b,"never closed,x`, 'c,d,e'].join('\r\n');

    // Act / Assess
    expect(() => checkItemFile(text, 'csv')).toThrow(ItemFileError);
    expect(() => checkItemFile(text, 'csv')).toThrow(/^line 5, field 2 \(title\): a quoted field is never closed/);
  });

  it('refuses a quote inside an unquoted field, naming line and field', () => {
    // Act / Assess
    expect(() => checkItemFile(`id,title,body\na,say "hi",${body}\n`, 'csv')).toThrow(
      /^line 2, field 2 \(title\): a quote inside an unquoted field/,
    );
  });
});

describe('Function: decodeItemFile', () => {
  it('names the line and column of the first invalid sequence, and how many lines hold one', () => {
    // Prepare: a truncated 3-byte sequence on line 2 (column 4), a lone continuation byte on line 3
    const bytes = Buffer.concat([
      Buffer.from('ok\nabc'),
      Buffer.from([0xe2, 0x82]),
      Buffer.from('d\nx'),
      Buffer.from([0x80]),
      Buffer.from('\n'),
    ]);

    // Act / Assess
    expect(() => decodeItemFile(bytes, false)).toThrow(
      /^line 2 is not valid UTF-8 \(byte 0xe2 at column 4\) \(and 1 more line\(s\)\)/,
    );
    expect(decodeItemFile(bytes, true)).toEqual({ text: 'ok\nabc\uFFFDd\nx\uFFFD\n', replacedLines: [2, 3] });
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
