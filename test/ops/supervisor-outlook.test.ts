import { describe, expect, it } from 'vitest';
import { type SupervisorSchedule, supervisorOutlook } from '#ops/supervisor-outlook.ts';

/**
 * When the board and `sluice status` call the supervisor waiting, looking or not running: from its schedule (the
 * interval, the function's timeout, when it started) and its latest look, on the local timer and on AWS's
 * schedule of whole minutes.
 */

const START = Date.parse('2026-11-21T08:00:00.000Z');
const SECOND = 1000;
const local: SupervisorSchedule = { intervalMs: 60 * SECOND, timeoutMs: 90 * SECOND, sinceMs: START, scheduled: false };

describe('Function: supervisorOutlook', () => {
  it('waits for the first look one interval after the start, and calls it overdue only after a whole look more', () => {
    // Act
    const early = supervisorOutlook(local, undefined, START + 15 * SECOND);
    const due = supervisorOutlook(local, undefined, START + 150 * SECOND);
    const late = supervisorOutlook(local, undefined, START + 150 * SECOND + 1);

    // Assess
    expect(early).toEqual({
      state: 'waiting',
      intervalSeconds: 60,
      since: '2026-11-21T08:00:00.000Z',
      lastLookAt: null,
      nextLookAt: '2026-11-21T08:01:00.000Z',
      overdueAt: '2026-11-21T08:02:30.000Z',
    });
    expect(due.state).toBe('waiting');
    expect(late.state).toBe('overdue');
  });

  it('expects the next look one interval after the last, and is overdue when it does not come', () => {
    // Prepare
    const looked = START + 61 * SECOND;

    // Act
    const recent = supervisorOutlook(local, looked, looked + 20 * SECOND);
    const stopped = supervisorOutlook(local, looked, looked + 10 * 60 * SECOND);

    // Assess
    expect(recent).toMatchObject({
      state: 'looking',
      lastLookAt: '2026-11-21T08:01:01.000Z',
      nextLookAt: '2026-11-21T08:02:01.000Z',
    });
    expect(stopped).toMatchObject({ state: 'overdue', lastLookAt: '2026-11-21T08:01:01.000Z' });
  });

  it('waits for the first look of a restarted runtime, whatever a look before the restart says', () => {
    // Act
    const outlook = supervisorOutlook(local, START - 3600 * SECOND, START + 30 * SECOND);

    // Assess
    expect(outlook).toMatchObject({ state: 'waiting', nextLookAt: '2026-11-21T08:01:00.000Z' });
  });

  it("on AWS waits for the schedule's first whole minute, and its minutes between looks", () => {
    // Prepare: a look every 30 s (ticking within each minute), and one every 90 s (a schedule of 2 minutes)
    const ticking: SupervisorSchedule = {
      intervalMs: 30 * SECOND,
      timeoutMs: 150 * SECOND,
      sinceMs: START,
      scheduled: true,
    };
    const slow: SupervisorSchedule = { ...ticking, intervalMs: 90 * SECOND, timeoutMs: 90 * SECOND };

    // Act
    const first = supervisorOutlook(ticking, undefined, START + 45 * SECOND);
    const next = supervisorOutlook(ticking, START + 60 * SECOND, START + 70 * SECOND);
    const slowFirst = supervisorOutlook(slow, undefined, START + 100 * SECOND);
    const slowNext = supervisorOutlook(slow, START + 120 * SECOND, START + 130 * SECOND);

    // Assess
    expect(first).toMatchObject({ state: 'waiting', nextLookAt: '2026-11-21T08:01:00.000Z' });
    expect(next).toMatchObject({ state: 'looking', nextLookAt: '2026-11-21T08:01:30.000Z' });
    expect(slowFirst).toMatchObject({ state: 'waiting', nextLookAt: '2026-11-21T08:02:00.000Z' });
    expect(slowNext).toMatchObject({ state: 'looking', nextLookAt: '2026-11-21T08:04:00.000Z' });
    expect(supervisorOutlook(slow, START + 120 * SECOND, START + 331 * SECOND).state).toBe('overdue');
  });
});
