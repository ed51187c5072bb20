// @ts-check
/** Formatting, as the CLI prints it. */

export const fmtCount = (value) => (typeof value === 'number' ? value.toLocaleString('en-US') : '—');
export const fmtUsd = (usd) => (typeof usd === 'number' ? `$${usd.toFixed(4)}` : '—');
export const fmtPercent = (share) => (typeof share === 'number' ? `${(share * 100).toFixed(1)}%` : '—');

export function fmtDuration(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(1)}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m ${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours}h ${String(minutes % 60).padStart(2, '0')}m`;
  return `${Math.floor(hours / 24)}d ${hours % 24}h`;
}

/** An ISO instant as `YYYY-MM-DD HH:MM:SSZ` (UTC, like the CLI's days). */
export function fmtTime(iso) {
  if (typeof iso !== 'string' || iso === '') return '—';
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function clock(ms) {
  return `${new Date(ms).toISOString().slice(11, 19)} UTC`;
}

export function plural(count, word) {
  return `${fmtCount(count)} ${word}${count === 1 ? '' : 's'}`;
}

export const sumValues = (counts) => Object.values(counts ?? {}).reduce((total, n) => total + n, 0);

export function byClassText(counts) {
  return Object.entries(counts ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([errorClass, n]) => `${errorClass} ${n}`)
    .join(', ');
}
