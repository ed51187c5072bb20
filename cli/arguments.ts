import { utcDay } from '#shared/budget.ts';
import { UsageError } from './usage-error.ts';

/**
 * Option values the operator commands share, parsed with messages that name the option and what it accepts.
 */

const RELATIVE = /^(\d+)([dhm])$/;
const DAY = /^\d{4}-\d{2}-\d{2}$/;
const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000 } as const;

/**
 * A point in time: `YYYY-MM-DD` (midnight UTC), an ISO 8601 date-time, or an age such as `7d`, `12h`, `30m`.
 * @example parseInstant('--since', '7d', Date.now()) // seven days ago
 */
export function parseInstant(option: string, text: string, now: number): number {
  const relative = RELATIVE.exec(text.trim());
  if (relative) {
    const unit = relative[2] as keyof typeof UNIT_MS;
    return now - Number(relative[1]) * UNIT_MS[unit];
  }
  const at = DAY.test(text.trim()) ? Date.parse(`${text.trim()}T00:00:00Z`) : Date.parse(text);
  if (!Number.isFinite(at)) {
    throw new UsageError(`${option} must be YYYY-MM-DD, an ISO 8601 date-time or an age like 7d, 12h (got ${text})`);
  }
  return at;
}

/**
 * A UTC day (`YYYY-MM-DD`) from the same forms as {@link parseInstant}.
 * @example parseDay('--until', '2026-11-30T18:00:00Z', Date.now()) // '2026-11-30'
 */
export function parseDay(option: string, text: string, now: number): string {
  return utcDay(parseInstant(option, text, now));
}

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

/** A whole number ≥ 1. @example parsePositiveInteger('--max', '50') // 50 */
export function parsePositiveInteger(option: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new UsageError(`${option} must be a whole number ≥ 1 (got ${text})`);
  return value;
}

/** A number > 0 within `max`. @example parsePositiveNumber('--rate', '2.5', 500) // 2.5 */
export function parsePositiveNumber(option: string, text: string, max: number): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0 || value > max) {
    throw new UsageError(`${option} must be a number above 0 and at most ${max} (got ${text})`);
  }
  return value;
}

/** One of `allowed`. @example parseChoice('--by', 'model', ['stage', 'model', 'day']) // 'model' */
export function parseChoice<T extends string>(option: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) {
    throw new UsageError(`${option} must be ${allowed.join(', ')} (got ${text})`);
  }
  return text as T;
}

/** Refuses positional arguments a command does not take. @example noPositionals(parseArgs(...).positionals) */
export function noPositionals(positionals: readonly string[]): void {
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
}
