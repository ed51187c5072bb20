import { describe, expect, it } from 'vitest';
import { PIPELINE } from '#functions/pipeline.ts';
import { IdleNotice, type PipelineSnapshot, renderSnapshot } from '#local/progress.ts';
import { summariseUsage, usageSince } from '#local/run-report.ts';
import type { UsageRow } from '#shared/call-ledger.ts';

/** A snapshot with `states` counted and `queued` messages in the intake and draft queues. */
function snapshot(
  states: Partial<Record<string, number>>,
  queued: { intake?: number; draft?: number } = {},
  missingQueues: string[] = [],
): PipelineSnapshot {
  const byState = Object.fromEntries(PIPELINE.states.map((state) => [state, states[state] ?? 0]));
  return {
    pipeline: PIPELINE,
    byState,
    queues: { extract: queued.intake ?? 0, draft: queued.draft ?? 0, published: 0 },
    deadLetters: 0,
    missingQueues,
    llm: { calls: 0, tokens: 0, costUsd: 0 },
  };
}

describe('Class: IdleNotice', () => {
  describe('Method: observe', () => {
    it('says once that the pipeline is idle, with the settled items, and again only after new work', () => {
      // Prepare
      const notice = new IdleNotice();
      const lines: (string | undefined)[] = [];

      // Act: working, then settled for three refreshes, new items, settled again
      lines.push(notice.observe(snapshot({ EXTRACTING: 2, PUBLISHED: 1 }, { intake: 3 })));
      lines.push(notice.observe(snapshot({ PUBLISHED: 5, DEAD_LETTER: 1 })));
      lines.push(notice.observe(snapshot({ PUBLISHED: 5, DEAD_LETTER: 1 })));
      lines.push(notice.observe(snapshot({ PUBLISHED: 5, DEAD_LETTER: 1 })));
      lines.push(notice.observe(snapshot({ PUBLISHED: 5, DEAD_LETTER: 1 }, { intake: 1 })));
      lines.push(notice.observe(snapshot({ PUBLISHED: 6, DEAD_LETTER: 1 })));

      // Assess
      expect(lines).toEqual([
        undefined,
        'idle: all 6 items settled (5 published, 1 dead-lettered); waiting for new items',
        undefined,
        undefined,
        undefined,
        'idle: all 7 items settled (6 published, 1 dead-lettered); waiting for new items',
      ]);
    });

    it('says it again when more items settled between two views, even with no busy view in between', () => {
      // Prepare
      const notice = new IdleNotice();

      // Act
      const first = notice.observe(snapshot({ PUBLISHED: 2 }));
      const second = notice.observe(snapshot({ PUBLISHED: 3 }));

      // Assess
      expect(first).toMatch(/^idle: all 2 items settled/);
      expect(second).toMatch(/^idle: all 3 items settled/);
    });

    it('is not idle while an item is in a working state or a message waits in the intake or draft queue', () => {
      // Prepare
      const busy = [
        snapshot({ PUBLISHED: 1, RECEIVED: 1 }),
        snapshot({ PUBLISHED: 1, EXTRACTED: 1 }),
        snapshot({ PUBLISHED: 1, REVIEWING: 1 }),
        snapshot({ PUBLISHED: 1 }, { intake: 1 }),
        snapshot({ PUBLISHED: 1 }, { draft: 1 }),
      ];

      // Act & Assess
      for (const state of busy) expect(new IdleNotice().observe(state)).toBeUndefined();
    });

    it('says nothing for a stack that has never had an item', () => {
      // Act & Assess
      expect(new IdleNotice().observe(snapshot({}))).toBeUndefined();
    });
  });
});

describe('Function: renderSnapshot', () => {
  it('counts discarded items as done, and names them, in the bar, the items line and the idle line', () => {
    // Prepare: 10 items, 6 published, 1 dead-lettered, 3 discarded by an operator
    const settled = snapshot({ PUBLISHED: 6, DEAD_LETTER: 1, DISCARDED: 3 });

    // Act
    const [bar, items] = renderSnapshot(settled, 10, 1000);
    const idle = new IdleNotice().observe(settled);

    // Assess
    expect(bar).toMatch(/\] 10\/10 /);
    expect(items).toMatch(/published 6 {2}dead-lettered 1 {2}discarded 3 {2}in progress 0 /);
    expect(idle).toBe('idle: all 10 items settled (6 published, 1 dead-lettered, 3 discarded); waiting for new items');
  });

  it('names the queues that no longer exist on the queues line', () => {
    // Act
    const lines = renderSnapshot(
      snapshot({ PUBLISHED: 2 }, {}, ['IntakeDeadLetterQueueUrl', 'DraftQueueUrl']),
      2,
      1000,
    );

    // Assess
    expect(lines[2]).toMatch(/^ {2}queues {2}intake 0 .* MISSING intake DLQ, draft queue$/);
  });
});

describe('Function: usageSince', () => {
  const row = (day: string, stage: 'extract' | 'draft', model: string, calls: number): UsageRow => ({
    day,
    stage,
    model,
    calls,
    promptTokens: calls * 100,
    completionTokens: calls * 10,
    costNanoUsd: calls * 1000,
  });

  it('keeps what a run added to each row, and the rows it created, and drops the rows it did not touch', () => {
    // Prepare
    const before = [row('2026-12-01', 'extract', 'gpt-4o-mini', 40), row('2026-12-02', 'draft', 'gpt-4.1-mini', 7)];
    const after = [
      row('2026-12-01', 'extract', 'gpt-4o-mini', 40),
      row('2026-12-02', 'draft', 'gpt-4.1-mini', 10),
      row('2026-12-02', 'extract', 'gpt-4o-mini', 2),
    ];

    // Act
    const added = summariseUsage(usageSince(before, after));

    // Assess
    expect(added).toMatchObject({ calls: 5, promptTokens: 500, completionTokens: 50 });
    expect(added.byStage).toEqual({
      draft: { calls: 3, promptTokens: 300, completionTokens: 30, costUsd: 0.000003 },
      extract: { calls: 2, promptTokens: 200, completionTokens: 20, costUsd: 0.000002 },
    });
    expect(usageSince(after, after)).toEqual([]);
  });
});
