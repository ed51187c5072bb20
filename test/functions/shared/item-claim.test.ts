import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PIPELINE } from '#functions/pipeline.ts';
import { LeaseHeldError, StateConflictError } from '#shared/errors.ts';
import { claimItem } from '#shared/item-claim.ts';
import { ItemStore } from '#shared/item-store.ts';
import { stageStatesOf } from '#shared/pipeline.ts';
import type { IntakeItem } from '#shared/schemas.ts';
import { startTestPipeline, type TestPipeline } from '../../support/pipeline.ts';

const input = (id: string): IntakeItem => ({
  id,
  title: 'A title',
  body: 'A body long enough to be a valid item for the extract stage to work on.',
});

describe('Function: claimItem', () => {
  let pipeline: TestPipeline;
  let now = Date.parse('2026-11-01T00:00:00Z');
  let items: ItemStore;

  beforeAll(async () => {
    pipeline = await startTestPipeline();
    items = new ItemStore(pipeline.dev.dynamo, pipeline.outputs.StateTableName ?? '', () => now);
  });

  afterAll(async () => {
    await pipeline?.stop();
  });

  it('creates a new item straight into EXTRACTING with a lease', async () => {
    // Act
    const claim = await claimItem(items, {
      itemId: 'c-1',
      stage: 'extract',
      states: stageStatesOf(PIPELINE, 'extract'),
      owner: 'a',
      leaseUntil: now + 1000,
      now,
      input: input('c-1'),
    });

    // Assess
    expect(claim.outcome).toBe('claimed');
    const item = await items.get('c-1');
    expect(item?.state).toBe('EXTRACTING');
    expect(item?.leaseOwner).toBe('a');
    expect(item?.history.map((h) => h.state)).toEqual(['RECEIVED', 'EXTRACTING']);
  });

  it('refuses a second invocation while the lease holds, and hands the item over once it lapses', async () => {
    // Prepare
    const first = await claimItem(items, {
      itemId: 'c-2',
      stage: 'extract',
      states: stageStatesOf(PIPELINE, 'extract'),
      owner: 'a',
      leaseUntil: now + 1000,
      now,
      input: input('c-2'),
    });
    if (first.outcome !== 'claimed') throw new Error('expected a claim');

    // Act & Assess: a duplicate delivery during the lease
    await expect(
      claimItem(items, {
        itemId: 'c-2',
        stage: 'extract',
        states: stageStatesOf(PIPELINE, 'extract'),
        owner: 'b',
        leaseUntil: now + 1000,
        now,
        input: input('c-2'),
      }),
    ).rejects.toBeInstanceOf(LeaseHeldError);

    // Act: the first holder crashed; its lease lapses
    now += 2000;
    const second = await claimItem(items, {
      itemId: 'c-2',
      stage: 'extract',
      states: stageStatesOf(PIPELINE, 'extract'),
      owner: 'b',
      leaseUntil: now + 1000,
      now,
      input: input('c-2'),
    });

    // Assess: the new holder has it, and the old holder can no longer write
    expect(second.outcome).toBe('claimed');
    await expect(first.session.update({ state: 'EXTRACTED' })).rejects.toBeInstanceOf(StateConflictError);
    expect((await items.get('c-2'))?.leaseOwner).toBe('b');
  });

  it('says a finished item needs nothing more', async () => {
    // Prepare
    const claim = await claimItem(items, {
      itemId: 'c-3',
      stage: 'extract',
      states: stageStatesOf(PIPELINE, 'extract'),
      owner: 'a',
      leaseUntil: now + 1000,
      now,
      input: input('c-3'),
    });
    if (claim.outcome !== 'claimed') throw new Error('expected a claim');
    await claim.session.update({ state: 'EXTRACTED', remove: ['leaseOwner', 'leaseUntil'] });

    // Act
    const again = await claimItem(items, {
      itemId: 'c-3',
      stage: 'extract',
      states: stageStatesOf(PIPELINE, 'extract'),
      owner: 'b',
      leaseUntil: now + 1000,
      now,
      input: input('c-3'),
    });

    // Assess
    expect(again.outcome).toBe('done');
  });

  it('does not start a draft before the item is extracted', async () => {
    // Prepare
    await claimItem(items, {
      itemId: 'c-4',
      stage: 'extract',
      states: stageStatesOf(PIPELINE, 'extract'),
      owner: 'a',
      leaseUntil: now + 1000,
      now,
      input: input('c-4'),
    });

    // Act & Assess
    await expect(
      claimItem(items, {
        itemId: 'c-4',
        stage: 'draft',
        states: stageStatesOf(PIPELINE, 'draft'),
        owner: 'b',
        leaseUntil: now + 1000,
        now,
      }),
    ).rejects.toBeInstanceOf(StateConflictError);
  });

  it('treats a message for an item its stage dead-lettered as a redrive with a fresh failure budget', async () => {
    // Prepare
    const claim = await claimItem(items, {
      itemId: 'c-5',
      stage: 'extract',
      states: stageStatesOf(PIPELINE, 'extract'),
      owner: 'a',
      leaseUntil: now + 1000,
      now,
      input: input('c-5'),
    });
    if (claim.outcome !== 'claimed') throw new Error('expected a claim');
    const failure = {
      errorClass: 'LlmCallError',
      message: '500',
      stage: 'extract' as const,
      attempts: 3,
      at: new Date(now).toISOString(),
    };
    await claim.session.update({
      state: 'DEAD_LETTER',
      set: { attempts: { extract: 3, draft: 0 }, deadLetter: failure },
    });

    // Act
    const redrive = await claimItem(items, {
      itemId: 'c-5',
      stage: 'extract',
      states: stageStatesOf(PIPELINE, 'extract'),
      owner: 'b',
      leaseUntil: now + 1000,
      now,
      input: input('c-5'),
    });

    // Assess
    expect(redrive.outcome).toBe('claimed');
    const item = await items.get('c-5');
    expect(item?.state).toBe('EXTRACTING');
    expect(item?.attempts.extract).toBe(0);
    expect(item?.deadLetter).toBeUndefined();
  });

  it('leaves an item dead-lettered by a later stage alone when an earlier stage sees it again', async () => {
    // Prepare
    const claim = await claimItem(items, {
      itemId: 'c-6',
      stage: 'extract',
      states: stageStatesOf(PIPELINE, 'extract'),
      owner: 'a',
      leaseUntil: now + 1000,
      now,
      input: input('c-6'),
    });
    if (claim.outcome !== 'claimed') throw new Error('expected a claim');
    const failure = {
      errorClass: 'ItemBudgetExceededError',
      message: 'over',
      stage: 'draft' as const,
      attempts: 1,
      at: new Date(now).toISOString(),
    };
    await claim.session.update({
      state: 'DEAD_LETTER',
      set: { deadLetter: failure },
      remove: ['leaseOwner', 'leaseUntil'],
    });

    // Act
    const again = await claimItem(items, {
      itemId: 'c-6',
      stage: 'extract',
      states: stageStatesOf(PIPELINE, 'extract'),
      owner: 'b',
      leaseUntil: now + 1000,
      now,
      input: input('c-6'),
    });

    // Assess: a stale delivery, acknowledged without a change
    expect(again.outcome).toBe('stale');
    expect((await items.get('c-6'))?.state).toBe('DEAD_LETTER');
  });

  describe('a message for an item dead-lettered with a dead-letter id', () => {
    const failure = {
      errorClass: 'LlmCallError',
      message: '401',
      stage: 'extract' as const,
      attempts: 1,
      at: '2026-11-01T00:00:00.000Z',
      deadLetterId: 'dl-current',
    };

    /** A record as the extract stage leaves a dead-lettered item: valid (with its input) or invalid (raw body). */
    async function deadLettered(itemId: string, valid = true) {
      const created = await items.create(
        itemId,
        valid ? { state: 'EXTRACTING', input: input(itemId) } : { state: 'RECEIVED', rawInput: '{"id":"bad"}' },
      );
      if (created === undefined) throw new Error('expected a new record');
      await items.update(created, { state: 'DEAD_LETTER', set: { deadLetter: failure } });
    }

    const claimFor = (itemId: string, deadLetterId: string | undefined, owner = 'b') =>
      claimItem(items, {
        itemId,
        stage: 'extract',
        states: stageStatesOf(PIPELINE, 'extract'),
        owner,
        leaseUntil: now + 1000,
        now,
        input: input(itemId),
        deadLetterId,
      });

    it('is stale without the id (a duplicate of the original message) and leaves the item as it was', async () => {
      // Prepare
      await deadLettered('m-1');
      const before = await items.get('m-1');

      // Act
      const duplicate = await claimFor('m-1', undefined);
      const other = await claimFor('m-1', 'dl-older');

      // Assess
      expect(duplicate.outcome).toBe('stale');
      expect(other.outcome).toBe('stale');
      expect(await items.get('m-1')).toEqual(before);
    });

    it('is the redrive with the id, and the claim consumes it: a second copy is stale', async () => {
      // Prepare
      await deadLettered('m-2');

      // Act
      const redrive = await claimFor('m-2', 'dl-current', 'b');

      // Assess: the first copy resumes the item with a fresh failure budget, its dead letter consumed
      expect(redrive.outcome).toBe('claimed');
      const item = await items.get('m-2');
      expect(item?.state).toBe('EXTRACTING');
      expect(item?.deadLetter).toBeUndefined();

      // Act: the redrive fails again and dead-letters the item under a new id; then the second copy arrives
      if (redrive.outcome !== 'claimed') throw new Error('expected a claim');
      await redrive.session.update({
        state: 'DEAD_LETTER',
        set: { deadLetter: { ...failure, deadLetterId: 'dl-next' } },
        remove: ['leaseOwner', 'leaseUntil'],
      });
      const copy = await claimFor('m-2', 'dl-current', 'c');

      // Assess
      expect(copy.outcome).toBe('stale');
      expect((await items.get('m-2'))?.deadLetter?.deadLetterId).toBe('dl-next');
    });

    it('is the redrive whatever it carries when the dead letter has no id (recorded before ids existed)', async () => {
      // Prepare
      const created = await items.create('m-4', { state: 'EXTRACTING', input: input('m-4') });
      if (created === undefined) throw new Error('expected a new record');
      const { deadLetterId: _none, ...older } = failure;
      await items.update(created, { state: 'DEAD_LETTER', set: { deadLetter: older } });

      // Act
      const redrive = await claimFor('m-4', undefined);

      // Assess
      expect(redrive.outcome).toBe('claimed');
    });

    it("takes the producer's corrected item for an item dead-lettered as invalid", async () => {
      // Prepare
      await deadLettered('m-3', false);

      // Act
      const corrected = await claimFor('m-3', undefined);

      // Assess
      expect(corrected.outcome).toBe('claimed');
      expect((await items.get('m-3'))?.input).toEqual(input('m-3'));
    });
  });
});
