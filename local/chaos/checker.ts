import { type RunReport, summariseUsage } from '#local/run-report.ts';
import type { ItemRecord, ItemState } from '#shared/item-store.ts';
import type { Stage } from '#shared/runtime-config.ts';
import type { CheckResult } from './check-result.ts';
import type { CrashCounts } from './crashes.ts';
import { type CheckerInput, gatherEvidence, type RunEvidence } from './evidence.ts';
import {
  deadLetterErrorsCheck,
  deadLettersStayDeadCheck,
  poisonItemsCheck,
  refusalsNotRetriedCheck,
  transientDeadLettersCheck,
  validItemsRejectedCheck,
  waitingDeadLettersCheck,
} from './invariants/dead-letters.ts';
import { drainedCheck, lostCheck, parkedItems, stuckCheck } from './invariants/delivery.ts';
import { faultsInjectedCheck } from './invariants/faults-injected.ts';
import { EVIDENCE_LIMIT, type Finding, sumOf } from './invariants/finding.ts';
import { maxConcurrentCallsCheck, maxRpmCheck, maxTpmCheck, spendCheck } from './invariants/limits.ts';
import { memoryOutageCheck, providerOutageCheck, reenrichedWithHistoryCheck } from './invariants/outages.ts';
import {
  paidTwiceCheck,
  rebilledCallsCheck,
  rebilledCount,
  unrecordedCallsCheck,
  usageMatchesLedgerCheck,
} from './invariants/payments.ts';
import {
  duplicatedPublicationsCheck,
  missingEventsCheck,
  publicationsOf,
  repeatedEventsCheck,
} from './invariants/publications.ts';
import { selfHealingChecks } from './self-healing.ts';

/**
 * The checker of a chaos run, in the style of Jepsen's total-queue: after the run it reads everything from the
 * outside (evidence.ts: the state table, every queue and DLQ, the simulator's counters) and checks each of
 * sluice's invariants against what was injected, one pure function per invariant (invariants/).
 */

/** The state of an item involved in a failed check, straight from the state table. */
export interface ItemEvidence {
  itemId: string;
  state: ItemState | 'NO_RECORD';
  attempts?: Record<Stage, number> | undefined;
  deferrals?: number | undefined;
  deferredSince?: string | undefined;
  pendingCall?: string | undefined;
  lastError?: ItemRecord['lastError'];
  deadLetter?: ItemRecord['deadLetter'];
  history?: string[] | undefined;
  calls?: number | undefined;
  rebilledCalls?: number | undefined;
  crashes?: Partial<CrashCounts> | undefined;
}

export interface CheckCounts {
  messagesSent: number;
  duplicatesSent: number;
  accepted: number;
  valid: number;
  poison: number;
  byState: Record<ItemState, number>;
  /** Items left waiting for the daily budget, their message delayed in the queue (only when expected). */
  parked: number;
  degraded: Record<string, number>;
  /** Dead letters by `<stage> <errorClass>`. */
  deadLetters: Record<string, number>;
  /** Messages the queues' redrive moved to a DLQ (no `itemId` attribute): crashes past maxReceiveCount. */
  backstopDeadLetters: number;
  /** Messages of dead-lettered items sent again after the run settled (scenarios with `lateDuplicates`). */
  lateDuplicates: number;
  events: { total: number; distinctPublications: number; invalid: number };
  ledger: { entries: number; rebilled: number; invalidOutputs: number };
  usage: { calls: number; rebilledCalls: number };
  llm: RunReport['llm'];
  budget: { day: string; committedUsd: number; spentUsd: number }[];
  breakerOpens: Record<string, number>;
  queues: Record<string, { visible: number; inFlight: number; delayed: number }>;
}

export interface CheckOutcome {
  ok: boolean;
  checks: CheckResult[];
  counts: CheckCounts;
  /** Items behind each failed check, by check name. */
  evidence: Record<string, ItemEvidence[]>;
}

/** An invariant: its findings for a run, none where the scenario gives it nothing to check. */
type Invariant = (run: RunEvidence) => Finding | readonly Finding[] | undefined;

/** Every invariant, in the order the report lists them. */
const INVARIANTS: readonly Invariant[] = [
  // Nothing is lost.
  lostCheck,
  stuckCheck,
  drainedCheck,
  // Publications: exactly one per item and generation, repeats explained by crashes.
  missingEventsCheck,
  duplicatedPublicationsCheck,
  repeatedEventsCheck,
  // Nothing is paid twice; every paid call is counted.
  rebilledCallsCheck,
  paidTwiceCheck,
  unrecordedCallsCheck,
  usageMatchesLedgerCheck,
  // Limits hold.
  maxConcurrentCallsCheck,
  maxRpmCheck,
  maxTpmCheck,
  spendCheck,
  // Outages: calls stop until the breaker's probes find the provider back; the supervisor heals.
  providerOutageCheck,
  memoryOutageCheck,
  ({ input, scenario }) =>
    input.selfHealing === undefined
      ? undefined
      : selfHealingChecks({ ...input.selfHealing, scenario, timeline: input.timeline }),
  reenrichedWithHistoryCheck,
  // Dead letters: bad input costs nothing; waiting is not failing.
  poisonItemsCheck,
  validItemsRejectedCheck,
  waitingDeadLettersCheck,
  transientDeadLettersCheck,
  refusalsNotRetriedCheck,
  deadLetterErrorsCheck,
  deadLettersStayDeadCheck,
  faultsInjectedCheck,
];

/**
 * Reads the run's outcome from the tables and queues and checks every invariant.
 * @example
 * const outcome = await checkRun({ scenario, sqs, dynamo, outputs, accepted, messages, crashes, simulator, timeline, pollerTimeouts: 0, settled: true, elapsedMs });
 * outcome.checks.filter((check) => !check.ok);
 */
export async function checkRun(input: CheckerInput): Promise<CheckOutcome> {
  const run = await gatherEvidence(input);
  const checks: CheckResult[] = [];
  const evidence: Record<string, ItemEvidence[]> = {};
  for (const invariant of INVARIANTS) {
    const found = invariant(run);
    for (const { involved = [], ...result } of found === undefined ? [] : [found].flat()) {
      checks.push(result);
      if (!result.ok && involved.length > 0) {
        evidence[result.name] = involved.slice(0, EVIDENCE_LIMIT).map((itemId) => evidenceOf(run, itemId));
      }
    }
  }
  return { ok: checks.every((result) => result.ok), checks, evidence, counts: countsOf(run) };
}

/** An item's state for a failed check's evidence. */
function evidenceOf({ items, callsByItem, input }: RunEvidence, itemId: string): ItemEvidence {
  const item = items.get(itemId);
  const itemCalls = callsByItem.get(itemId) ?? [];
  const crashes = Object.fromEntries(
    Object.entries(input.crashes.forItem(itemId)).filter(([, count]) => count > 0),
  ) as Partial<CrashCounts>;
  if (item === undefined) return { itemId, state: 'NO_RECORD', crashes };
  return {
    itemId,
    state: item.state,
    attempts: item.attempts,
    deferrals: item.deferrals,
    deferredSince: item.deferredSince === undefined ? undefined : new Date(item.deferredSince).toISOString(),
    pendingCall: item.pendingCall,
    lastError: item.lastError,
    deadLetter: item.deadLetter,
    history: item.history?.map((entry) => `${entry.state}@${entry.at.slice(11, 23)}`),
    calls: itemCalls.length,
    rebilledCalls: itemCalls.filter((call) => call.rebilled === true).length,
    crashes,
  };
}

/** The run's totals for the report. */
function countsOf(run: RunEvidence): CheckCounts {
  const { input, items, calls, usage, pipeline } = run;
  const byState: Record<ItemState, number> = Object.fromEntries(pipeline.states.map((state) => [state, 0]));
  const degraded: Record<string, number> = {};
  const deadLetters: Record<string, number> = {};
  for (const item of items.values()) {
    byState[item.state] = (byState[item.state] ?? 0) + 1;
    for (const flag of item.degraded ?? []) degraded[flag] = (degraded[flag] ?? 0) + 1;
    if (item.state === 'DEAD_LETTER') {
      const key = `${item.deadLetter?.stage ?? 'unknown'} ${item.deadLetter?.errorClass ?? 'unknown'}`;
      deadLetters[key] = (deadLetters[key] ?? 0) + 1;
    }
  }
  const parked = parkedItems(run);
  return {
    messagesSent: input.messages.sent,
    duplicatesSent: input.messages.duplicates,
    accepted: run.acceptedIds.length,
    valid: run.acceptedIds.length - run.poisonIds.size,
    poison: run.poisonIds.size,
    byState,
    parked: parked.covered ? parked.ids.length : 0,
    degraded,
    deadLetters,
    backstopDeadLetters: run.dlq.backstop.length,
    lateDuplicates: input.lateDuplicates?.sent ?? 0,
    events: {
      total: run.events.valid.length,
      distinctPublications: publicationsOf(run).eventCounts.size,
      invalid: run.events.invalid.length,
    },
    ledger: {
      entries: calls.length,
      rebilled: rebilledCount(run),
      invalidOutputs: calls.filter((call) => call.outcome === 'invalid-output').length,
    },
    usage: { calls: sumOf(usage, (row) => row.calls), rebilledCalls: sumOf(usage, (row) => row.rebilledCalls ?? 0) },
    llm: summariseUsage(usage),
    budget: run.budgets.map((record) => ({
      day: record.day,
      committedUsd: record.committedNano / 1e9,
      spentUsd: record.spentNano / 1e9,
    })),
    breakerOpens: run.breakerOpens,
    queues: run.queues,
  };
}
