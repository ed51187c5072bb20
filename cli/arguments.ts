import { shown } from '#ops/errors.ts';
import { utcDay } from '#shared/budget.ts';
import { intakeItemSchema } from '#shared/schemas.ts';
import { UsageError } from './usage-error.ts';

/**
 * Option values the operator commands share, parsed with messages that name the option and what it accepts.
 */

const RELATIVE = /^(\d+)([dhm])$/;
const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
/** An ISO 8601 date-time: `2026-11-30T18:00Z`, `2026-11-30T18:00:00.5+01:00`, `2026-11-30T18:00:00` (local). */
const DATE_TIME = /^(\d{4}-\d{2}-\d{2})T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})?$/i;
const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000 } as const;
/** The longest age an option takes (100 years): anything older is a typo. */
const MAX_AGE_MS = 36_500 * 86_400_000;

/** Whether `text` is a real calendar day written YYYY-MM-DD (not 2026-02-30). @example isCalendarDay('2026-02-29') // false */
function isCalendarDay(text: string): boolean {
  if (!DAY.test(text)) return false;
  const at = Date.parse(`${text}T00:00:00Z`);
  return Number.isFinite(at) && utcDay(at) === text;
}

/**
 * A point in time: `YYYY-MM-DD` (midnight UTC), an ISO 8601 date-time, or an age such as `7d`,
 * `12h`, `30m` (up to 100 years). Nothing else: `Date.parse` alone would take '1' for the year 2001.
 * @example parseInstant('--since', '7d', Date.now()) // seven days ago
 */
export function parseInstant(option: string, text: string, now: number): number {
  const value = text.trim();
  const relative = RELATIVE.exec(value);
  if (relative) {
    const unit = relative[2] as keyof typeof UNIT_MS;
    const ageMs = Number(relative[1]) * UNIT_MS[unit];
    if (ageMs > MAX_AGE_MS) throw new UsageError(`${option} must be an age of at most 100 years (got ${shown(text)})`);
    return now - ageMs;
  }
  const dateTime = DATE_TIME.exec(value);
  const day = dateTime?.[1] ?? (DAY.test(value) ? value : undefined);
  const at = dateTime ? Date.parse(value) : Date.parse(`${value}T00:00:00Z`);
  if (day === undefined || !isCalendarDay(day) || !Number.isFinite(at)) {
    throw new UsageError(
      `${option} must be YYYY-MM-DD, an ISO 8601 date-time or an age like 7d, 12h (got ${shown(text)})`,
    );
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

/** A whole number ≥ 1, written in digits. @example parsePositiveInteger('--max', '50') // 50 */
export function parsePositiveInteger(option: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < 1) {
    throw new UsageError(`${option} must be a whole number ≥ 1 (got ${shown(text)})`);
  }
  return value;
}

/**
 * A decimal number above 0 (or from `min`) up to `max`. @example parsePositiveNumber('--rate', '2.5', 500) // 2.5
 */
export function parsePositiveNumber(option: string, text: string, max: number, min?: number): number {
  const value = Number(text);
  const inRange = min === undefined ? value > 0 : value >= min;
  if (!/^\d+(?:\.\d+)?$/.test(text) || !inRange || value > max) {
    const range = min === undefined ? `above 0 and at most ${max}` : `from ${min} to ${max}`;
    throw new UsageError(`${option} must be a number ${range} (got ${shown(text)})`);
  }
  return value;
}

/** One of `allowed`. @example parseChoice('--by', 'model', ['stage', 'model', 'day']) // 'model' */
export function parseChoice<T extends string>(option: string, text: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(text)) {
    throw new UsageError(`${option} must be ${allowed.join(', ')} (got ${shown(text)})`);
  }
  return text as T;
}

/** Refuses positional arguments a command does not take. @example noPositionals(parseArgs(...).positionals) */
export function noPositionals(positionals: readonly string[]): void {
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${shown(positionals[0] ?? '')}'`);
}

const itemIdSchema = intakeItemSchema.shape.id;

/**
 * An item id as the intake schema takes it: an id outside it can name no item, and would make the state table
 * refuse the read (a key over 2048 bytes) rather than answer "no such item".
 * @example parseItemId('item id', 'sample-001') // 'sample-001'
 */
export function parseItemId(what: string, text: string): string {
  const result = itemIdSchema.safeParse(text);
  if (result.success) return result.data;
  const rule = result.error.issues[0]?.message.replace(/^id /, '') ?? 'is not valid';
  throw new UsageError(`${what} ${rule} (got ${text === '' ? 'an empty id' : shown(text)})`);
}

/** Error class names as dead letters carry them: `LlmCallError`, `(none)`. */
const ERROR_CLASS = /^[^\s\p{Cc}]{1,200}$/u;

/** An error class to select dead letters by. @example parseErrorClass('--error-class', 'LlmCallError') */
export function parseErrorClass(option: string, text: string): string {
  if (ERROR_CLASS.test(text)) return text;
  throw new UsageError(
    `${option} must be an error class such as LlmCallError: 1 to 200 characters, no spaces (got ${text === '' ? 'nothing' : shown(text)})`,
  );
}
