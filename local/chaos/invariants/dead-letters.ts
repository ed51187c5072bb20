import type { ItemRecord } from '#shared/item-store.ts';
import { type RunEvidence, statusOf } from '../evidence.ts';
import { type Finding, joined, listed } from './finding.ts';

/** Dead letters: bad input costs nothing, waiting is never failing, refusals are not retried, dead letters stay dead. */

/** Dead letters for waiting: these causes defer the message and must never spend an item's failure budget. */
const WAITING_CLASSES = new Set([
  'RateLimitedError',
  'BreakerOpenError',
  'BudgetExhaustedError',
  'DeferralLimitError',
  'LeaseHeldError',
  'DeadlineError',
  'StateConflictError',
]);
/** Dead letters that are the design, not a fault's doing: bad input, an item too big for its token budget. */
const DELIBERATE_CLASSES = new Set(['InvalidItemError', 'ItemBudgetExceededError']);

/**
 * Whether a dead letter was caused by waiting, by a transient fault, or deliberately (bad input, too big).
 * @example causeOf(item.deadLetter) // 'transient' for an LlmCallError after a 503
 */
export function causeOf(error: ItemRecord['deadLetter']): 'waiting' | 'transient' | 'deliberate' {
  if (error === undefined) return 'transient';
  if (WAITING_CLASSES.has(error.errorClass)) return 'waiting';
  if (DELIBERATE_CLASSES.has(error.errorClass)) return 'deliberate';
  const status = statusOf(error);
  if (status === 429) return 'waiting';
  // A request the provider refuses (400, 401, 403, 404, 422) is never retried, by design.
  if (isRefusal(status)) return 'deliberate';
  return 'transient';
}

/** A 4xx that says the request itself is wrong: retrying cannot help. */
function isRefusal(status: number | undefined): boolean {
  return status !== undefined && status >= 400 && status < 500 && ![408, 409, 425, 429].includes(status);
}

function deadLettersOf(run: RunEvidence): ItemRecord[] {
  return [...run.items.values()].filter((item) => item.state === 'DEAD_LETTER');
}

function describeDeadLetter(item: ItemRecord | undefined): string {
  const error = item?.deadLetter;
  if (error === undefined) return 'no error recorded';
  return `${error.stage} ${error.errorClass} after ${error.attempts} attempt(s): ${error.message.split('\n')[0]?.slice(0, 160)}`;
}

/** Poison items are dead-lettered at the first stage as InvalidItemError, without a call or any usage. */
export function poisonItemsCheck({ poisonIds, items, callsByItem, pipeline }: RunEvidence): Finding {
  const first = pipeline.stages[0]?.name;
  const wrong = [...poisonIds].filter((id) => {
    const item = items.get(id);
    return (
      item?.state !== 'DEAD_LETTER' ||
      item.deadLetter?.errorClass !== 'InvalidItemError' ||
      item.deadLetter.stage !== first ||
      (callsByItem.get(id) ?? []).length > 0 ||
      item.usage !== undefined
    );
  });
  return {
    name: 'poisonItems',
    ok: wrong.length === 0,
    observed: wrong.length,
    limit: 0,
    detail:
      wrong.length === 0
        ? `all ${poisonIds.size} poison item(s) dead-lettered at ${first} as InvalidItemError without an LLM call`
        : `${wrong.length} poison item(s) not dead-lettered as InvalidItemError with 0 tokens: ${listed(wrong)}`,
    involved: wrong,
  };
}

export function validItemsRejectedCheck(run: RunEvidence): Finding {
  const rejected = deadLettersOf(run)
    .filter((item) => !run.poisonIds.has(item.itemId) && item.deadLetter?.errorClass === 'InvalidItemError')
    .map((item) => item.itemId);
  return {
    name: 'validItemsRejected',
    ok: rejected.length === 0,
    observed: rejected.length,
    limit: 0,
    detail:
      rejected.length === 0
        ? 'no valid item was rejected as invalid'
        : `valid items dead-lettered as InvalidItemError: ${listed(rejected)}`,
    involved: rejected,
  };
}

export function waitingDeadLettersCheck(run: RunEvidence): Finding {
  const waitedOut = deadLettersOf(run)
    .filter((item) => causeOf(item.deadLetter) === 'waiting')
    .map((item) => item.itemId);
  return {
    name: 'waitingDeadLetters',
    ok: waitedOut.length === 0,
    observed: waitedOut.length,
    limit: 0,
    detail:
      waitedOut.length === 0
        ? 'no item dead-lettered for waiting (rate limit, 429, open breaker, budget, lease, deadline)'
        : `dead-lettered for waiting: ${listed(waitedOut.map((id) => `${id} (${describeDeadLetter(run.items.get(id))})`))}`,
    involved: waitedOut,
  };
}

export function transientDeadLettersCheck(run: RunEvidence): Finding {
  const { scenario, config } = run;
  const transient = deadLettersOf(run)
    .filter((item) => causeOf(item.deadLetter) === 'transient')
    .map((item) => item.itemId);
  return {
    name: 'transientDeadLetters',
    ok: transient.length <= scenario.expect.transientDeadLetters,
    observed: transient.length,
    limit: scenario.expect.transientDeadLetters,
    detail:
      transient.length === 0
        ? `no item spent its ${config.maxAttempts} attempts on transient faults`
        : `dead-lettered after ${config.maxAttempts} attempts on transient faults: ${listed(transient.map((id) => `${id} (${describeDeadLetter(run.items.get(id))})`))}`,
    involved: transient,
  };
}

/** Every request the provider refused (a 4xx that is not about waiting) dead-lettered its item at once. */
export function refusalsNotRetriedCheck(run: RunEvidence): Finding {
  const { input, items, dlq } = run;
  const refusalsServed = Object.entries(input.simulator?.errorsServed ?? {})
    .filter(([status]) => isRefusal(Number(status)))
    .reduce((sum, [, count]) => sum + count, 0);
  const refused = deadLettersOf(run)
    .filter((item) => isRefusal(statusOf(item.deadLetter)))
    .map((item) => item.itemId);
  // A refusal whose item went on instead of being dead-lettered leaves its dead letter behind in the DLQ.
  const retriedRefusals = [...dlq.byItem]
    .filter(([id, messages]) => items.get(id)?.state !== 'DEAD_LETTER' && messages.some((m) => isRefusal(m.status)))
    .map(([id]) => id);
  const dlqSendCrashes = input.crashes.byPoint['after-dead-letter-send'];
  return {
    name: 'refusalsNotRetried',
    ok: refusalsServed <= refused.length,
    observed: refusalsServed - refused.length,
    limit: 0,
    detail:
      `the provider refused ${refusalsServed} call(s) (4xx other than 408, 409, 425, 429); ${refused.length} item(s) were dead-lettered for it at once` +
      (refusalsServed > refused.length
        ? `: ${refusalsServed - refused.length} refused request(s) were tried again` +
          (retriedRefusals.length > 0
            ? `; items that went on after their refusal was sent to a DLQ: ${listed(retriedRefusals.map((id) => `${id} (${items.get(id)?.state})`))}`
            : '') +
          (dlqSendCrashes > 0
            ? ` (${dlqSendCrashes} crash(es) were injected between a DLQ send and the DEAD_LETTER write)`
            : '')
        : ''),
    involved: retriedRefusals,
  };
}

export function deadLetterErrorsCheck(run: RunEvidence): Finding {
  const deadLetters = deadLettersOf(run);
  const unrecorded = deadLetters
    .filter(
      (item) =>
        item.deadLetter === undefined ||
        item.deadLetter.errorClass === '' ||
        item.deadLetter.message === '' ||
        !(item.deadLetter.attempts >= 1),
    )
    .map((item) => item.itemId);
  return {
    name: 'deadLetterErrors',
    ok: unrecorded.length === 0,
    observed: unrecorded.length,
    limit: 0,
    detail:
      unrecorded.length === 0
        ? `every one of ${deadLetters.length} dead letters records its error class, message, stage and attempts`
        : `dead letters without a complete error record: ${listed(unrecorded)}`,
    involved: unrecorded,
  };
}

/**
 * Dead letters are final except through a redrive: every item dead-lettered before the late duplicates arrived is
 * still DEAD_LETTER, unchanged (same version, same dead-letter id), with a DLQ message carrying that id, and
 * neither its ledger nor the provider saw another call. Only for scenarios with `lateDuplicates`.
 */
export function deadLettersStayDeadCheck({ input, items, callsByItem, dlq }: RunEvidence): Finding | undefined {
  const late = input.lateDuplicates;
  if (late === undefined) return undefined;
  const problems: string[] = [];
  const involved: string[] = [];
  for (const before of late.items) {
    const item = items.get(before.itemId);
    const ledgerEntries = (callsByItem.get(before.itemId) ?? []).length;
    const wrong = [
      item?.state !== 'DEAD_LETTER' ? `now ${item?.state ?? 'without a record'}` : '',
      item !== undefined && item.version !== before.version ? `version ${before.version} → ${item.version}` : '',
      item?.deadLetter?.deadLetterId !== before.deadLetterId ? 'its dead-letter id changed' : '',
      before.deadLetterId === undefined ? 'its dead letter has no id' : '',
      !(dlq.byItem.get(before.itemId) ?? []).some((message) => message.deadLetterId === before.deadLetterId)
        ? 'no DLQ message carries its dead-letter id'
        : '',
      ledgerEntries !== before.ledgerEntries ? `ledger ${before.ledgerEntries} → ${ledgerEntries} call(s)` : '',
    ].filter(Boolean);
    if (wrong.length > 0) {
      involved.push(before.itemId);
      problems.push(`${before.itemId} (${wrong.join(', ')})`);
    }
  }
  const extraCalls = late.stageCallsAfter - late.stageCallsBefore;
  const ok = late.items.length > 0 && problems.length === 0 && extraCalls === 0;
  return {
    name: 'deadLettersStayDead',
    ok,
    observed: problems.length + extraCalls,
    limit: 0,
    detail:
      late.items.length === 0
        ? 'no item was dead-lettered before the late duplicates: the scenario proves nothing'
        : `${late.sent} late duplicate(s) of ${late.items.length} dead-lettered item(s): ` +
          (ok
            ? 'every item is still DEAD_LETTER, unchanged, its dead letter in a DLQ, no call made'
            : joined([
                problems.length > 0 ? `moved or changed: ${listed(problems)}` : '',
                extraCalls !== 0 ? `${extraCalls} provider call(s) after they were sent` : '',
              ])),
    involved,
  };
}
