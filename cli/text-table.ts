import { inertEscape } from '#shared/inert-escape.ts';

/**
 * Plain-text output of the operator commands: aligned tables, CSV, money and durations.
 */

export type Align = 'left' | 'right';

/**
 * Characters a terminal acts on instead of showing: the C0 controls (ESC starts the sequences that clear the screen,
 * set the window title or write the clipboard with OSC 52; CR overwrites a line), DEL, the C1 controls (U+009B is a
 * one-character CSI), and the bidirectional marks, embeddings, overrides and isolates that reorder what follows on
 * the line: Unicode's Cc and Bidi_Control. Written by hand: `util.stripVTControlCharacters` and the strip-ansi family remove only well-formed
 * escape sequences and let a lone control character, the C1 set and the bidi overrides through.
 */
const UNSAFE = /[\p{Cc}\p{Bidi_Control}]/gu;
const UNSAFE_BUT_NEWLINE = /(?!\n)[\p{Cc}\p{Bidi_Control}]/gu;

/**
 * Text from anywhere (item data, provider errors, queue attributes, arguments) made safe to print on a terminal:
 * each control character is written out as an inert escape (`\x1b`, `\u202e`), so the operator sees that it was
 * there and the terminal acts on none of it. Line breaks stay only with `multiline` (a block of lines); a table
 * cell or a one-line field has them written out too. Every line of the commands' human output goes through this
 * (the printers and {@link renderTable}); `--json` and `--csv` print the data exactly.
 * @example terminalSafe('\u001b]0;pwned\u0007 title') // '\\x1b]0;pwned\\x07 title'
 */
export function terminalSafe(text: string, options: { multiline?: boolean } = {}): string {
  return text.replace(options.multiline === true ? UNSAFE_BUT_NEWLINE : UNSAFE, inertEscape);
}

/**
 * Rows under a header, each column as wide as its widest cell; numbers usually aligned right.
 * @example renderTable(['stage', 'calls'], [['extract', '50']], ['left', 'right'])
 */
export function renderTable(
  header: readonly string[],
  body: readonly (readonly string[])[],
  align: readonly Align[],
): string[] {
  const rows = body.map((row) => row.map((cell) => terminalSafe(cell)));
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => {
        const width = widths[column] ?? cell.length;
        return align[column] === 'right' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/**
 * RFC 4180 CSV: fields with a comma, quote or line break are quoted, quotes doubled.
 * @example toCsv([['stage', 'calls'], ['extract', '50']]) // 'stage,calls\r\nextract,50\r\n'
 */
export function toCsv(rows: readonly (readonly (string | number)[])[]): string {
  const field = (value: string | number) => {
    const text = String(value);
    return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  return rows.map((row) => `${row.map(field).join(',')}\r\n`).join('');
}

/** Dollars with four decimals (a cent is too coarse for LLM calls). @example formatUsd(0.01225) // '$0.0123' */
export const formatUsd = (usd: number): string => `$${usd.toFixed(4)}`;

/** A whole number with thousands separators. @example formatCount(20577) // '20,577' */
export const formatCount = (value: number): string => value.toLocaleString('en-US');

/** A duration for people. @example formatDuration(245_000) // '4m 05s' (also '950ms', '12.3s', '3h 20m', '2d 4h') */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${String(minutes % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** Shortens text to `max` characters on one line, marking the cut. @example oneLine('a\nlong text', 6) // 'a lon…' */
export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}
