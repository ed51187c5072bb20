/**
 * Plain-text output of the operator commands: aligned tables, CSV, money and durations.
 */

export type Align = 'left' | 'right';

/**
 * Rows under a header, each column as wide as its widest cell; numbers usually aligned right.
 * @example renderTable(['stage', 'calls'], [['extract', '50']], ['left', 'right'])
 */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[], align: readonly Align[]) {
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
