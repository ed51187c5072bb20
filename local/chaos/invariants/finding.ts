import type { CheckResult } from '../check-result.ts';

/** One invariant's verdict, with the items behind it when it fails (their state becomes the check's evidence). */
export interface Finding extends CheckResult {
  involved?: readonly string[];
}

/** How many items a failed check lists in its detail and evidence. */
export const EVIDENCE_LIMIT = 10;

/** Ids for a check's detail: the first few, then how many more. */
export function listed(ids: readonly string[]): string {
  const shown = ids.slice(0, EVIDENCE_LIMIT).join(', ');
  return ids.length > EVIDENCE_LIMIT ? `${shown}, ... (${ids.length - EVIDENCE_LIMIT} more)` : shown;
}

/** Nano-dollars as dollars, to the micro-dollar. */
export function usd(nano: number): string {
  return (nano / 1e9).toFixed(6);
}

export function sumOf<T>(values: readonly T[], of: (value: T) => number): number {
  return values.reduce((sum, value) => sum + (Number(of(value)) || 0), 0);
}

/** The parts of a detail that apply, joined. */
export function joined(parts: readonly string[]): string {
  return parts.filter(Boolean).join('; ');
}
