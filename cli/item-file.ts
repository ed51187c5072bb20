import { extname } from 'node:path';
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
  const rows = parseCsv(stripBom(text));
  const [header, ...body] = rows;
  if (header === undefined) return [];
  if ('reason' in header) throw new ItemFileError(`the CSV header on line ${header.line}: ${header.reason}`);
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
    if ('reason' in row) return row;
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

type CsvRow = { line: number; fields: string[] } | BadLine;

/**
 * RFC 4180 records with the line each starts on: quoted fields may hold commas, doubled quotes and line breaks;
 * blank lines are skipped. An unterminated quote makes its record bad (reported at its first line).
 * @example parseCsv('id,title\r\n1,"a, b"\r\n') // [{ line: 1, fields: ['id', 'title'] }, { line: 2, fields: ['1', 'a, b'] }]
 */
export function parseCsv(text: string): CsvRow[] {
  const rows: CsvRow[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let start = 1;
  let empty = true;
  const endRecord = () => {
    fields.push(field);
    if (!(empty && fields.length === 1 && field === '')) rows.push({ line: start, fields });
    fields = [];
    field = '';
    empty = true;
  };
  for (let index = 0; index < text.length; index += 1) {
    const char = text[index];
    if (quoted) {
      if (char === '"' && text[index + 1] === '"') {
        field += '"';
        index += 1;
      } else if (char === '"') {
        quoted = false;
      } else {
        if (char === '\n') line += 1;
        field += char;
      }
      continue;
    }
    if (char === '"' && field === '') {
      quoted = true;
      empty = false;
    } else if (char === ',') {
      fields.push(field);
      field = '';
      empty = false;
    } else if (char === '\n' || char === '\r') {
      if (char === '\r' && text[index + 1] === '\n') index += 1;
      endRecord();
      line += 1;
      start = line;
    } else {
      field += char;
      empty = false;
    }
  }
  if (quoted) {
    rows.push({ line: start, reason: 'a quoted field is never closed' });
    return rows;
  }
  if (!empty || field !== '' || fields.length > 0) endRecord();
  return rows;
}

function stripBom(text: string): string {
  return text.startsWith('\uFEFF') ? text.slice(1) : text;
}
