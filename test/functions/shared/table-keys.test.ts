import { describe, expect, it } from 'vitest';
import {
  breakerKey,
  budgetKey,
  callKey,
  controlKey,
  isCallRow,
  itemKey,
  limitKey,
  recordKindOf,
  supervisorKey,
  usageKey,
} from '#shared/table-keys.ts';

describe('Module: table-keys', () => {
  it.each([
    ['item', itemKey('a#1'), 'a#1'],
    ['item', callKey('a#1', 'draft', 'review', 2), 'a#1'],
    ['usage', usageKey('2026-12-03', 'extract', 'gpt-4o-mini'), '2026-12-03'],
    ['budget', budgetKey('2026-12-03'), '2026-12-03'],
    ['limit', limitKey('gpt-4.1-mini'), 'gpt-4.1-mini'],
    ['breaker', breakerKey('memory'), 'memory'],
    ['control', controlKey('draft'), 'draft'],
    ['supervisor', supervisorKey('extract'), 'extract'],
  ])('reads back the kind (%s) and the name of every key it writes', (kind, key, name) => {
    // Act & Assess: what status, the chaos checker and the run report see of a row is what its writer meant
    expect(recordKindOf(key.pk)).toEqual({ kind, name });
  });

  it('tells ledger rows from item records, and knows no foreign key', () => {
    // Act & Assess
    expect(isCallRow(callKey('a-1', 'extract', 'extract', 0))).toBe(true);
    expect(isCallRow(itemKey('a-1'))).toBe(false);
    expect(callKey('a-1', 'draft', 'review', 7).sk).toBe('CALL#draft#review#007');
    expect(recordKindOf('OTHER#x')).toBeUndefined();
  });
});
