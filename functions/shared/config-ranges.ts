import * as z from 'zod';

/**
 * The allowed range of every numeric setting that reaches a function, in one place. The `cdk.json` schema
 * (lib/config.ts) checks the operator's values against these, with errors that name the range, in the units an
 * operator writes (seconds, hours, percent); the runtime schemas the functions parse at init
 * (runtime-config.ts, supervisor/runtime-config.ts) are built from the same bounds, converted to the units the
 * functions take (milliseconds, ratios). Settings only the stack reads (alarm thresholds, memory size, batch
 * size) keep their bounds in lib/config.ts.
 */

export interface Range {
  readonly min: number;
  readonly max: number;
  /** Whole numbers only. */
  readonly whole: boolean;
}

const whole = (min: number, max: number): Range => ({ min, max, whole: true });
const real = (min: number, max: number): Range => ({ min, max, whole: false });

/** Bounds by the setting's path in `cdk.json`. */
export const RANGES = {
  llm: { timeoutSeconds: whole(1, 900) },
  price: { perMillionUsd: real(0, 1000) },
  stage: { maxConcurrency: whole(2, 1000), maxOutputTokens: whole(64, 32_000), maxRevisions: whole(0, 10) },
  maxAttempts: whole(1, 100),
  itemTokenBudget: whole(1000, 10_000_000),
  dailyBudgetUsd: real(0, 1_000_000),
  // At least 30 days: a dead letter's message lives up to 14 days in its DLQ, and an item redriven from it must
  // still find its record and its paid calls (a ledger row gone would mean paying for its step again).
  retentionDays: whole(30, 3650),
  memory: { lookupTimeoutMs: whole(50, 30_000), maxRelated: whole(0, 50) },
  limits: { rpm: whole(1, 1_000_000), tpm: whole(100, 1_000_000_000) },
  retry: {
    baseDelayMs: whole(1, 600_000),
    // A longer wait would be cut to the 900 s SQS can delay a message handed back.
    maxDelayMs: whole(1, 900_000),
    maxInProcessWaitMs: whole(0, 60_000),
    maxDeferralHours: whole(1, 336),
  },
  breaker: {
    failureThreshold: whole(1, 100),
    windowSeconds: whole(1, 3600),
    minCalls: whole(2, 10_000),
    failureRatePercent: whole(1, 100),
    cooldownSeconds: whole(1, 3600),
  },
  supervisor: {
    intervalSeconds: whole(1, 3600),
    pauseAfterSeconds: whole(5, 86_400),
    verifySeconds: whole(5, 86_400),
    adaptiveConcurrency: { decreaseFactor: real(0.1, 0.95), throttleRatio: real(0, 1), latencyFactor: real(1.1, 100) },
    reenrich: { maxPerRun: whole(1, 10_000), perSecond: whole(1, 1000), maxPerItem: whole(1, 10) },
  },
} as const;

/** Units a runtime schema takes a setting in, against the unit `cdk.json` writes it in. */
export const SECONDS_TO_MS = 1000;
export const HOURS_TO_MS = 3_600_000;
export const DAYS_TO_SECONDS = 86_400;
export const PERCENT_TO_RATIO = 0.01;

/**
 * A runtime schema for a setting: its range scaled to the unit the function takes.
 * @example inRange(RANGES.llm.timeoutSeconds, SECONDS_TO_MS) // z.number().int().min(1000).max(900000)
 */
export function inRange(range: Range, scale = 1): z.ZodNumber {
  const number = range.whole && Number.isInteger(scale) ? z.number().int() : z.number();
  return number.min(range.min * scale).max(range.max * scale);
}
