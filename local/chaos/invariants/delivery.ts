import type { ItemRecord } from '#shared/item-store.ts';
import type { RunEvidence } from '../evidence.ts';
import { type Finding, joined, listed } from './finding.ts';

/**
 * Nothing is lost, nothing is stuck: every accepted item ends PUBLISHED, DISCARDED or DEAD_LETTER (its message in a
 * DLQ), or, where the scenario exhausts the budget, waits for it with a delayed message.
 */

/** Messages still to be handled in the stages' queues: visible, in flight, delayed. */
function pendingMessages(run: RunEvidence): number {
  return run.stageQueues.reduce((sum, name) => {
    const depth = run.queues[name];
    return sum + (depth?.visible ?? 0) + (depth?.inFlight ?? 0) + (depth?.delayed ?? 0);
  }, 0);
}

function isTerminal(run: RunEvidence, item: ItemRecord | undefined): boolean {
  return item !== undefined && run.pipeline.terminalStates.includes(item.state);
}

/** Accepted items with a record that is not in a terminal state. */
function unfinishedItems(run: RunEvidence): string[] {
  return run.acceptedIds.filter((id) => run.items.has(id) && !isTerminal(run, run.items.get(id)));
}

/**
 * Items waiting for the daily budget, when the scenario expects it; `covered` when the stages' queues hold a
 * delayed message for each of them.
 */
export function parkedItems(run: RunEvidence): { ids: string[]; covered: boolean } {
  if (!run.scenario.expect.budgetExhausted) return { ids: [], covered: false };
  const ids = unfinishedItems(run).filter((id) => run.items.get(id)?.deferredSince !== undefined);
  const delayed = run.stageQueues.reduce((sum, name) => sum + (run.queues[name]?.delayed ?? 0), 0);
  return { ids, covered: ids.length > 0 && delayed >= ids.length };
}

export function lostCheck(run: RunEvidence): Finding {
  const parked = parkedItems(run);
  const noRecord = run.acceptedIds.filter((id) => !run.items.has(id));
  const deadWithoutMessage = run.acceptedIds.filter(
    (id) => run.items.get(id)?.state === 'DEAD_LETTER' && !run.dlq.byItem.has(id),
  );
  const unmovable = pendingMessages(run) === 0 ? unfinishedItems(run) : [];
  const lost = [...noRecord, ...deadWithoutMessage, ...unmovable];
  const { backstop } = run.dlq;
  return {
    name: 'lost',
    ok: lost.length === 0,
    observed: lost.length,
    limit: 0,
    detail:
      lost.length === 0
        ? `all ${run.acceptedIds.length} accepted items are PUBLISHED, DISCARDED, DEAD_LETTER with their message in a DLQ${parked.ids.length > 0 ? ', or waiting for the budget with a delayed message' : ''}`
        : joined([
            noRecord.length > 0 ? `${noRecord.length} without a record (${listed(noRecord)})` : '',
            deadWithoutMessage.length > 0
              ? `${deadWithoutMessage.length} DEAD_LETTER without a DLQ message (${listed(deadWithoutMessage)})`
              : '',
            unmovable.length > 0
              ? `${unmovable.length} in a working state with no message left to move them (${listed(unmovable)})`
              : '',
            backstop.length > 0
              ? `${backstop.length} message(s) moved to a DLQ by maxReceiveCount: ${listed(backstop.map((m) => m.itemId ?? m.messageId))}`
              : '',
          ]),
    involved: lost,
  };
}

export function stuckCheck(run: RunEvidence): Finding {
  const parked = parkedItems(run);
  const stuck = unfinishedItems(run).filter((id) => !(parked.covered && parked.ids.includes(id)));
  return {
    name: 'stuck',
    ok: stuck.length === 0,
    observed: stuck.length,
    limit: 0,
    detail:
      stuck.length === 0
        ? 'no item left in a working state'
        : `${stuck.length} item(s) not finished: ${listed(stuck.map((id) => `${id} (${run.items.get(id)?.state})`))}; ${pendingMessages(run)} message(s) still in the ${run.stageQueues.join('/')} queues`,
    involved: stuck,
  };
}

export function drainedCheck({ input, scenario }: RunEvidence): Finding {
  return {
    name: 'drained',
    ok: input.settled,
    observed: Math.round(input.elapsedMs / 100) / 10,
    limit: scenario.drainTimeoutSeconds,
    detail: input.settled
      ? `settled in ${(input.elapsedMs / 1000).toFixed(1)} s`
      : `still busy: ${input.unsettled ?? `not settled within the ${scenario.drainTimeoutSeconds} s drain timeout`}`,
  };
}
