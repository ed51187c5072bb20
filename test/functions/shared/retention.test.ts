import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DailyBudget } from '#shared/budget.ts';
import { type CallEntry, CallLedger } from '#shared/call-ledger.ts';
import { ItemStore } from '#shared/item-store.ts';
import { budgetKey, callKey, itemKey, type TableKey, usageKey } from '#shared/table-keys.ts';
import { type StateTable, startStateTable } from '../../support/state-table.ts';

/** 30 days, the shortest retention the config takes. */
const RETENTION = 30 * 86_400;
const AT = Date.parse('2026-11-10T08:30:00Z');

describe('Retention: what the state table lets DynamoDB TTL delete', () => {
  let table: StateTable;
  let clock = AT;

  beforeAll(async () => {
    table = await startStateTable();
  });

  afterAll(async () => {
    await table?.stop();
  });

  const expiryOf = async (key: TableKey) =>
    (await table.dynamo.send(new GetCommand({ TableName: table.tableName, Key: key, ConsistentRead: true }))).Item
      ?.expiresAt;

  it('expires an item the retention after it settles, and keeps it while it is at work', async () => {
    // Prepare
    const items = new ItemStore(table.dynamo, table.tableName, () => clock, RETENTION);
    const created = await items.create('r-1', { state: 'EXTRACTING' });
    if (created === undefined) throw new Error('r-1 exists already');
    const atWork = await expiryOf(itemKey('r-1'));

    // Act: published a day later, then redrafted (re-enrichment) and dead-lettered another day later
    clock = AT + 86_400_000;
    const published = await items.update(created, { state: 'PUBLISHED' });
    const expiredPublished = await expiryOf(itemKey('r-1'));
    const redrafting = await items.update(published, { state: 'DRAFTING' });
    const expiredRedrafting = await expiryOf(itemKey('r-1'));
    clock = AT + 2 * 86_400_000;
    await items.update(redrafting, { state: 'DEAD_LETTER' });

    // Assess
    expect(atWork).toBeUndefined();
    expect(expiredPublished).toBe((AT + 86_400_000) / 1000 + RETENTION);
    expect(expiredRedrafting).toBeUndefined();
    expect(await expiryOf(itemKey('r-1'))).toBe((AT + 2 * 86_400_000) / 1000 + RETENTION);
  });

  it("keeps a dead letter's expiry when an operator, who knows no retention, discards it", async () => {
    // Prepare
    const stage = new ItemStore(table.dynamo, table.tableName, () => AT, RETENTION);
    const dead = await stage.create('r-2', { state: 'DEAD_LETTER', rawInput: 'not json' });
    if (dead === undefined) throw new Error('r-2 exists already');
    const operator = new ItemStore(table.dynamo, table.tableName, () => AT + 86_400_000);

    // Act
    await operator.update(dead, { state: 'DISCARDED' });

    // Assess
    expect(await expiryOf(itemKey('r-2'))).toBe(AT / 1000 + RETENTION);
  });

  it('expires a ledger row the retention after its call, and the day’s usage and budget after the day', async () => {
    // Prepare
    const entry: CallEntry = {
      itemId: 'r-3',
      stage: 'extract',
      step: 'knowledge',
      n: 0,
      model: 'gpt-4o-mini',
      outcome: 'ok',
      content: '{}',
      finishReason: 'stop',
      promptTokens: 700,
      completionTokens: 300,
      costNanoUsd: 285_000,
      latencyMs: 800,
      at: new Date(AT).toISOString(),
    };
    const ledger = new CallLedger(table.dynamo, table.tableName, RETENTION);
    const budget = new DailyBudget(table.dynamo, table.tableName, 10, () => AT, RETENTION);
    const endOfDay = Date.parse('2026-11-11T00:00:00Z') / 1000;

    // Act
    await budget.reserve(300_000);
    await ledger.record(entry);
    await ledger.addUsage(entry);

    // Assess: and readers see the rows as they were written, the expiry aside
    expect(await expiryOf(callKey('r-3', 'extract', 'knowledge', 0))).toBe(AT / 1000 + RETENTION);
    expect(await expiryOf(usageKey('2026-11-10', 'extract', 'gpt-4o-mini'))).toBe(endOfDay + RETENTION);
    expect(await expiryOf(budgetKey('2026-11-10'))).toBe(endOfDay + RETENTION);
    expect(await ledger.list('r-3')).toEqual([entry]);
    expect((await ledger.usageOfDay('2026-11-10'))[0]).not.toHaveProperty('expiresAt');
  });
});
