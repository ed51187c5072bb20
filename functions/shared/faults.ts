/**
 * Where a chaos run may crash a stage: between every pair of steps that must survive a crash. In production no
 * injector is set and these points cost nothing.
 */
export const CRASH_POINTS = [
  'after-claim',
  'after-llm-response',
  'after-ledger-write',
  'after-checkpoint',
  'after-send',
  'after-dead-letter-send',
] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

/** Decides whether to crash here (by throwing InjectedCrash) for the given item. */
export interface CrashInjector {
  crashPoint(point: CrashPoint, itemId: string): void;
}
