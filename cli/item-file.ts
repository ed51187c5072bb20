import { isUtf8 } from 'node:buffer';
import { extname } from 'node:path';
import { CsvError, parse } from 'csv-parse/sync';
import { intakeItemSchema } from '#shared/schemas.ts';
import { formatIssues } from '#shared/validation.ts';

/**
 * Reading a file of items for `sluice enqueue`: JSON Lines (one item object per line) or CSV (a header naming
 * the item's fields, one item per record). Every record is checked with the intake schema the extract stage
 * uses, so a bad line is reported with its line number before anything is sent.
 */

export const ITEM_FORMATS = ['jsonl', 'csv'] as const;
export type ItemFormat = (typeof ITEM_FORMATS)[number];

/** A record that passed the intake schema, as the message body to send. */
export interface ValidLine {
  /** 1-based line of the file where the record starts. */
  line: number;
  itemId: string;
  body: string;
}

export interface BadLine {
  line: number;
  reason: string;
  /** The id the record claims, when it has a usable one. */
  itemId?: string | undefined;
}

export interface ItemFileCheck {
  format: ItemFormat;
  /** Records read (blank lines are not records). */
  records: number;
  valid: ValidLine[];
  bad: BadLine[];
}

/** The file cannot be read as items at all (e.g. a CSV header naming unknown fields). */
export class ItemFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ItemFileError';
  }
}

const FIELDS = Object.keys(intakeItemSchema.shape);

export interface DecodedItemFile {
  text: string;
  /** Lines (1-based) whose invalid UTF-8 was replaced with U+FFFD; empty when the file was valid. */
  replacedLines: number[];
}

/**
 * The file's bytes as text. Invalid UTF-8 refuses the file, naming the first line and column that hold it, unless
 * `replaceInvalid`: then each bad sequence becomes U+FFFD and the lines are listed, so nothing is altered unseen.
 * @throws {ItemFileError} for invalid UTF-8 without `replaceInvalid`.
 * @example decodeItemFile(await readFile('items.jsonl'), false).text
 */
export function decodeItemFile(bytes: Uint8Array, replaceInvalid: boolean): DecodedItemFile {
  const text = new TextDecoder('utf-8').decode(bytes);
  if (isUtf8(bytes)) return { text, replacedLines: [] };
  // A line feed byte is never part of a multi-byte sequence, so the lines can be checked one by one.
  const replacedLines: number[] = [];
  let first: { line: number; column: number; byte: number } | undefined;
  let start = 0;
  for (let line = 1; start <= bytes.length; line += 1) {
    const end = bytes.indexOf(0x0a, start) === -1 ? bytes.length : bytes.indexOf(0x0a, start);
    const lineBytes = bytes.subarray(start, end);
    if (!isUtf8(lineBytes)) {
      replacedLines.push(line);
      first ??= { line, ...firstInvalid(lineBytes) };
    }
    start = end + 1;
  }
  if (!replaceInvalid && first !== undefined) {
    const more = replacedLines.length > 1 ? ` (and ${replacedLines.length - 1} more line(s))` : '';
    throw new ItemFileError(
      `line ${first.line} is not valid UTF-8 (byte 0x${first.byte.toString(16).padStart(2, '0')} at column ` +
        `${first.column})${more}: save the file as UTF-8, or pass --replace-invalid-utf8 to send U+FFFD in place of ` +
        'the bad bytes; nothing was sent',
    );
  }
  return { text, replacedLines };
}

/**
 * Where a line's first invalid UTF-8 sequence starts: the column (in characters) and its first byte. The platform's
 * decoder is fed a byte at a time because its error says nothing of where it met the bad byte.
 */
function firstInvalid(line: Uint8Array): { column: number; byte: number } {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let decoded = '';
  let pending: number | undefined;
  for (let index = 0; index <= line.length; index += 1) {
    try {
      const chunk =
        index === line.length ? decoder.decode() : decoder.decode(line.subarray(index, index + 1), { stream: true });
      if (chunk === '') pending ??= index;
      else {
        decoded += chunk;
        pending = undefined;
      }
    } catch {
      const at = pending ?? index;
      return { column: [...decoded].length + 1, byte: line[at] ?? 0 };
    }
  }
  return { column: [...decoded].length + 1, byte: 0 };
}

/** The format a file name implies: `.csv` is CSV, `.jsonl`, `.ndjson` and `.json` are JSON Lines. */
export function formatOfFile(path: string): ItemFormat | undefined {
  const extension = extname(path).toLowerCase();
  if (extension === '.csv') return 'csv';
  if (extension === '.jsonl' || extension === '.ndjson' || extension === '.json') return 'jsonl';
  return undefined;
}

/**
 * Checks every record of the file; duplicates of an id seen on an earlier line are bad lines too (the pipeline
 * would take them for redeliveries of the first and drop them).
 * @example
 * const check = checkItemFile(await readFile('items.jsonl', 'utf8'), 'jsonl');
 * check.bad; // [{ line: 3, reason: 'body: body must have at least 40 characters', itemId: 'post-3' }]
 */
export function checkItemFile(text: string, format: ItemFormat): ItemFileCheck {
  const records = format === 'csv' ? csvRecords(text) : jsonlRecords(text);
  const valid: ValidLine[] = [];
  const bad: BadLine[] = [];
  const firstLineOf = new Map<string, number>();
  for (const record of records) {
    if ('reason' in record) {
      bad.push(record);
      continue;
    }
    const parsed = intakeItemSchema.safeParse(record.value);
    const claimed = (record.value as { id?: unknown } | null)?.id;
    const claimedId = typeof claimed === 'string' && claimed !== '' ? claimed : undefined;
    if (!parsed.success) {
      bad.push({ line: record.line, reason: formatIssues(parsed.error), itemId: claimedId });
      continue;
    }
    const first = firstLineOf.get(parsed.data.id);
    if (first !== undefined) {
      bad.push({ line: record.line, reason: `id ${parsed.data.id} repeats line ${first}`, itemId: parsed.data.id });
      continue;
    }
    firstLineOf.set(parsed.data.id, record.line);
    valid.push({ line: record.line, itemId: parsed.data.id, body: JSON.stringify(parsed.data) });
  }
  return { format, records: records.length, valid, bad };
}

type RawRecord = { line: number; value: unknown } | BadLine;

function jsonlRecords(text: string): RawRecord[] {
  const records: RawRecord[] = [];
  for (const [index, raw] of stripBom(text).split('\n').entries()) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') continue;
    try {
      records.push({ line: index + 1, value: JSON.parse(line) });
    } catch (error) {
      records.push({ line: index + 1, reason: `not JSON: ${(error as Error).message}` });
    }
  }
  return records;
}

function csvRecords(text: string): RawRecord[] {
  const [header, ...body] = csvRows(text);
  if (header === undefined) return [];
  const columns = header.fields.map((field) => field.trim());
  const unknown = columns.filter((column) => !FIELDS.includes(column));
  if (unknown.length > 0) {
    throw new ItemFileError(
      `the CSV header names unknown field(s) ${unknown.map((c) => `'${c}'`).join(', ')}; the fields are ${FIELDS.join(', ')}`,
    );
  }
  const repeated = columns.find((column, index) => columns.indexOf(column) !== index);
  if (repeated !== undefined) throw new ItemFileError(`the CSV header names '${repeated}' twice`);
  return body.map((row): RawRecord => {
    if (row.fields.length !== columns.length) {
      return { line: row.line, reason: `has ${row.fields.length} field(s), the header has ${columns.length}` };
    }
    // An empty cell is an absent field, so optional fields can be left blank.
    const value = Object.fromEntries(
      columns.flatMap((column, index) => {
        const cell = row.fields[index] ?? '';
        return cell === '' ? [] : [[column, cell]];
      }),
    );
    return { line: row.line, value };
  });
}

/**
 * The file's CSV records with the line each starts on, parsed by csv-parse with strict quoting: a quote inside an
 * unquoted field, text after a closing quote (`"quoted"junk`) or a quote never closed refuses the whole file with
 * its line and field, since every record after it would be read wrongly. Line numbers are counted here from the
 * bytes each record ends at: csv-parse counts a CRLF inside a quoted field as two lines.
 * @example csvRows('id,title\r\n1,"a, b"\r\n') // [{ line: 1, fields: ['id', 'title'] }, { line: 2, fields: ['1', 'a, b'] }]
 */
function csvRows(text: string): { line: number; fields: string[] }[] {
  const bytes = Buffer.from(text, 'utf8');
  const rows: { line: number; fields: string[] }[] = [];
  let offset = 0;
  let line = 1;
  /** Moves to the start of the next record: past the blank lines csv-parse skips, counting every line break. */
  const startOfRecord = (end: number) => {
    const between = bytes.subarray(offset, end).toString('utf8');
    const lead = /^(?:\r\n|\n|\r)*/.exec(between)?.[0] ?? '';
    const start = line + breaks(lead);
    line += breaks(between);
    offset = end;
    return start;
  };
  let header: string[] | undefined;
  try {
    parse(bytes, {
      bom: true,
      // Field counts are checked against the header below, with a message naming both.
      relax_column_count: true,
      skip_empty_lines: true,
      on_record: (record: string[], context) => {
        rows.push({ line: startOfRecord(context.bytes), fields: record });
        header ??= record;
        return record;
      },
    });
  } catch (error) {
    if (!(error instanceof CsvError)) throw error;
    const at = startOfRecord(bytes.length);
    const index = typeof error.column === 'number' ? error.column : undefined;
    const name = index === undefined ? undefined : header?.[index]?.trim();
    const field =
      index === undefined ? '' : `, field ${index + 1}${name === undefined || rows.length === 0 ? '' : ` (${name})`}`;
    throw new ItemFileError(`line ${at}${field}: ${CSV_PROBLEMS[error.code] ?? error.message}; nothing was sent`);
  }
  return rows;
}

/** What each of csv-parse's quoting errors means for a person fixing the file. */
const CSV_PROBLEMS: Readonly<Record<string, string>> = {
  CSV_INVALID_CLOSING_QUOTE:
    'text after the closing quote of a quoted field (a quote inside a quoted field is written twice: "")',
  INVALID_OPENING_QUOTE:
    'a quote inside an unquoted field (quote the whole field and write the quote twice: "a ""b""")',
  CSV_QUOTE_NOT_CLOSED: 'a quoted field is never closed',
};

const breaks = (text: string) => text.match(/\r\n|\n|\r/g)?.length ?? 0;

function stripBom(text: string): string {
  return text.startsWith('\uFEFF') ? text.slice(1) : text;
}
