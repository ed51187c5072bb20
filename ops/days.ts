import { utcDay } from '#shared/budget.ts';

/**
 * Every UTC day from `since` to `until`, both included.
 * @example daysBetween('2026-11-29', '2026-12-01') // ['2026-11-29', '2026-11-30', '2026-12-01']
 */
export function daysBetween(since: string, until: string): string[] {
  const days: string[] = [];
  for (let at = Date.parse(`${since}T00:00:00Z`); at <= Date.parse(`${until}T00:00:00Z`); at += 86_400_000) {
    days.push(utcDay(at));
  }
  return days;
}
