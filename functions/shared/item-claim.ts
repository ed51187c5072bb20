import { AWAITING_HISTORY_ATTRIBUTE, NO_HISTORY } from './degraded-items.ts';
import { LeaseHeldError, StateConflictError } from './errors.ts';
import { type ItemChange, type ItemRecord, type ItemState, type ItemStore, leaseHeldByOther } from './item-store.ts';
import { DEAD_LETTER, DISCARDED, PUBLISHED, type StageStates } from './pipeline.ts';
import type { Stage } from './runtime-config.ts';
import type { IntakeItem } from './schemas.ts';

/**
 * Claiming an item for a stage: the one place that decides, from the item's recorded state, whether a message
 * is new work, a resumption (redelivery, crash, redrive) or a duplicate of finished work.
 */

/** An item held by this invocation: every write goes through it so the version it holds stays current. */
export class ItemSession {
  #item: ItemRecord;
  readonly #items: ItemStore;
  /** True when this claim created the item: nothing can have been paid for it yet. */
  readonly created: boolean;

  constructor(items: ItemStore, item: ItemRecord, created: boolean) {
    this.#items = items;
    this.#item = item;
    this.created = created;
  }

  get item(): ItemRecord {
    return this.#item;
  }

  async update(change: ItemChange): Promise<ItemRecord> {
    this.#item = await this.#items.update(this.#item, change);
    return this.#item;
  }
}

/**
 * `done`: the stage has nothing more to do for the item (finished work, a duplicate of it). `stale`: the item is
 * DEAD_LETTER and the message is not its redrive (a duplicate of its message, or a second copy of a dead letter
 * already redriven): it is acknowledged and the item stays as it is, its dead letter in the DLQ.
 */
export type Claim =
  | { outcome: 'claimed'; session: ItemSession }
  | { outcome: 'done'; item: ItemRecord }
  | { outcome: 'stale'; item: ItemRecord };

export interface ClaimRequest {
  itemId: string;
  stage: Stage;
  /** The states the stage reads and writes (its runtime config's `states`). */
  states: StageStates;
  /** Identifies this invocation and message; a lease it holds may be renewed by the same owner. */
  owner: string;
  leaseUntil: number;
  now: number;
  /** Extract stage: the validated item, to create the record on first sight. */
  input?: IntakeItem;
  /** Draft stage: draft a published item again if it was published without history. */
  reenrich?: boolean;
  /** The dead-letter id the message carries (a redriven dead letter), if any. */
  deadLetterId?: string | undefined;
}

/**
 * Claims the item for the stage with a lease, or says it needs nothing from this stage any more.
 * Throws LeaseHeldError while another invocation works on it and StateConflictError when it is not ready yet.
 * @example
 * const claim = await claimItem(items, { itemId, stage: 'extract', owner, leaseUntil, now, input });
 */
export async function claimItem(items: ItemStore, request: ClaimRequest): Promise<Claim> {
  const lease = { leaseOwner: request.owner, leaseUntil: request.leaseUntil };
  if (request.input !== undefined) {
    const created = await items.create(request.itemId, {
      state: request.states.working[0] as ItemState,
      input: request.input,
      ...lease,
    });
    if (created !== undefined) return { outcome: 'claimed', session: new ItemSession(items, created, true) };
  }
  const item = await items.get(request.itemId);
  if (item === undefined) {
    throw new StateConflictError(`item ${request.itemId} has no record yet`);
  }
  const change =
    request.reenrich === true ? reenrichChange(item, request.states, lease) : claimChange(item, request, lease);
  if (change === 'done' || change === 'stale') return { outcome: change, item };
  return { outcome: 'claimed', session: new ItemSession(items, await items.update(item, change), false) };
}

/**
 * Whether a message for a DEAD_LETTER item is its redrive. DEAD_LETTER is final except through a redrive: the
 * message must come to the stage that dead-lettered the item and carry the dead letter's id. Two exceptions keep
 * older and corrected items movable: a dead letter recorded without an id (before dead letters carried one) takes
 * any message of its stage, as it always did; and an item dead-lettered as invalid takes a valid message under
 * its id (the producer's corrected item, which is what the runbook says to send).
 */
function isRedrive(item: ItemRecord, request: ClaimRequest): boolean {
  const deadLetter = item.deadLetter;
  if (deadLetter?.stage !== request.stage) return false;
  if (deadLetter.deadLetterId === undefined) return true;
  if (item.input === undefined && request.input !== undefined) return true;
  return deadLetter.deadLetterId === request.deadLetterId;
}

/**
 * Re-enrichment takes a published item drafted without history back to DRAFTING under a new generation, so the
 * ledger steps of the new drafts are new calls; anything else needs nothing (already re-enriched, or in flight:
 * the message then arrives as a plain draft message would).
 */
function reenrichChange(
  item: ItemRecord,
  states: StageStates,
  lease: { leaseOwner: string; leaseUntil: number },
): ItemChange | 'done' {
  if (item.state !== PUBLISHED || !(item.degraded ?? []).includes(NO_HISTORY)) return 'done';
  // No longer waiting: the redraft's publication says whether it waits again.
  return {
    state: states.working[0] as ItemState,
    set: { ...lease, generation: (item.generation ?? 0) + 1, revision: 0 },
    remove: [AWAITING_HISTORY_ATTRIBUTE],
  };
}

function claimChange(
  item: ItemRecord,
  request: ClaimRequest,
  lease: { leaseOwner: string; leaseUntil: number },
): ItemChange | 'done' | 'stale' {
  const { stage, states, now } = request;
  // DISCARDED is final, full stop: a late, duplicate or redriven message is acknowledged and changes nothing.
  if (item.state === DISCARDED) return 'done';
  if (item.state === DEAD_LETTER) {
    if (!isRedrive(item, request)) return 'stale';
    // An operator's redrive: resume with a fresh failure budget. Removing the dead letter (in this write, which is
    // conditioned on the version read) consumes its id, so another copy of the same dead letter is stale.
    return {
      state: states.working[0] as ItemState,
      set: {
        ...lease,
        attempts: { ...item.attempts, [stage]: 0 },
        ...(item.input === undefined && request.input !== undefined ? { input: request.input } : {}),
      },
      remove: ['deadLetter'],
    };
  }
  if (states.earlier.includes(item.state)) {
    throw new StateConflictError(`item ${item.itemId} is ${item.state}, not ready for ${stage}`);
  }
  const ready = item.state === states.ready;
  if (!ready && !states.working.includes(item.state)) return 'done';
  if (leaseHeldByOther(item, lease.leaseOwner, now)) {
    // Come back when the lease lapses (at the latest): by then the holder has finished or crashed.
    throw new LeaseHeldError(item.itemId, { retryAfterMs: Math.max(1000, (item.leaseUntil ?? now) - now) });
  }
  return { state: ready ? (states.working[0] as ItemState) : item.state, set: lease };
}
