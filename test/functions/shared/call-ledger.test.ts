import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CallEntry, CallLedger } from '#shared/call-ledger.ts';
import { type StateTable, startStateTable } from '../../support/state-table.ts';

/** A paid call of `stage` on `day`, with the given latency. */
const call = (day: string, n: number, latencyMs: number, model = 'gpt-4o-mini'): CallEntry => ({
  itemId: `ledger-${day}-${n}`,
  stage: 'extract',
  step: 'knowledge',
  n: 0,
  model,
  outcome: 'ok',
  content: '{}',
  finishReason: 'stop',
  promptTokens: 700,
  completionTokens: 300,
  costNanoUsd: 285_000,
  latencyMs,
  at: `${day}T12:00:00.000Z`,
});

describe('Class: CallLedger', () => {
  let table: StateTable;

  beforeAll(async () => {
    table = await startStateTable();
  });

  afterAll(async () => {
    await table?.stop();
  });

  describe('Method: addUsage', () => {
    it('adds each call and its latency to the day × stage × model totals, in one request per call', async () => {
      // Prepare: the ledger's client counts what it sends
      let requests = 0;
      const counting = {
        send: (command: Parameters<typeof table.dynamo.send>[0]) => {
          requests += 1;
          return table.dynamo.send(command);
        },
      } as unknown as typeof table.dynamo;
      const ledger = new CallLedger(counting, table.tableName);

      // Act
      await ledger.addUsage(call('2026-11-02', 1, 1200));
      await ledger.addUsage(call('2026-11-02', 2, 800));
      await ledger.addUsage(call('2026-11-02', 3, 450, 'gpt-4.1-mini'));
      const writes = requests;
      const rows = await ledger.usageOfDay('2026-11-02');

      // Assess: with `calls`, the total gives the mean latency of each row
      expect(writes).toBe(3);
      const byModel = Object.fromEntries(rows.map((row) => [row.model, row]));
      expect(byModel['gpt-4o-mini']).toMatchObject({ stage: 'extract', calls: 2, latencyMsTotal: 2000 });
      expect(byModel['gpt-4.1-mini']).toMatchObject({ stage: 'extract', calls: 1, latencyMsTotal: 450 });
    });
  });
});
