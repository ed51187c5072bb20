// @ts-check
/** Formatting, as the CLI prints it. */

/** @param {unknown} value @returns {string} */
export const fmtCount = (value) => (typeof value === 'number' ? value.toLocaleString('en-US') : '—');
/** @param {unknown} usd @returns {string} */
export const fmtUsd = (usd) => (typeof usd === 'number' ? `$${usd.toFixed(4)}` : '—');
/** @param {unknown} share @returns {string} */
export const fmtPercent = (share) => (typeof share === 'number' ? `${(share * 100).toFixed(1)}%` : '—');

/** @param {unknown} ms @returns {string} */
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

/**
 * An ISO instant as `YYYY-MM-DD HH:MM:SSZ` (UTC, like the CLI's days).
 * @param {unknown} iso
 * @returns {string}
 */
export function fmtTime(iso) {
  if (typeof iso !== 'string' || iso === '') return '—';
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** @param {number} ms @returns {string} */
export function clock(ms) {
  return `${new Date(ms).toISOString().slice(11, 19)} UTC`;
}

/** @param {number} count @param {string} word @returns {string} */
export function plural(count, word) {
  return `${fmtCount(count)} ${word}${count === 1 ? '' : 's'}`;
}

/** @param {Readonly<Record<string, number>> | undefined} counts @returns {number} */
export const sumValues = (counts) => Object.values(counts ?? {}).reduce((total, n) => total + n, 0);

/** @param {Readonly<Record<string, number>> | undefined} counts @returns {string} */
export function byClassText(counts) {
  return Object.entries(counts ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([errorClass, n]) => `${errorClass} ${n}`)
    .join(', ');
}
