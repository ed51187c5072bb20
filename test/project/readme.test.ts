import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkItemFile } from '#cli/item-file.ts';
import { intakeItemSchema } from '#shared/schemas.ts';
import vitestConfig from '../../vitest.config.ts';

/** The claims README makes that the code can check: a newcomer copies them first. */

/** The text of README's section under `heading`, up to the next heading of any level. */
const section = (readme: string, heading: string) => {
  const start = readme.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`README has no heading "${heading}"`);
  const rest = readme.slice(start + heading.length + 2);
  const end = rest.search(/^#{1,6} /m);
  return end < 0 ? rest : rest.slice(0, end);
};

describe('Project: README', () => {
  let readme: string;

  beforeAll(async () => {
    readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  });

  it('shows an example item that `sluice enqueue` accepts, on one line', () => {
    // Prepare
    const dropping = section(readme, '### Dropping items on the intake queue');
    const blocks = [...dropping.matchAll(/```json\n([\s\S]*?)```/g)].map((match) => match[1] ?? '');

    // Act
    const check = checkItemFile(blocks[0] ?? '', 'jsonl');

    // Assess
    expect(blocks).toHaveLength(1);
    expect(check.bad).toEqual([]);
    expect(check.valid).toHaveLength(1);
  });

  it('states the id rule the intake schema applies, first character included', () => {
    // Prepare
    const row = section(readme, '### Dropping items on the intake queue')
      .split('\n')
      .find((line) => line.startsWith('| `id`'));
    const idIssue = (id: string) =>
      intakeItemSchema.safeParse({ id, title: 'A title', body: 'x'.repeat(40) }).error?.issues[0]?.message;

    // Assess: README's rule
    expect(row).toContain('1–128 letters, digits, `.`, `_`, `:`, `-`, the first a letter or digit');
    // Assess: the schema's, and the error says which part was broken
    for (const id of ['a', '7', 'a.b_c:d-e', 'A'.repeat(128)]) expect(idIssue(id), id).toBeUndefined();
    for (const id of ['', '-a', '.a', '_a', ':a', 'a b', 'é', 'A'.repeat(129)]) {
      expect(idIssue(id), id).toBe(
        'id must be 1-128 characters of letters, digits, ".", "_", ":" or "-", the first a letter or digit',
      );
    }
  });

  it('says how many test files run at once as vitest.config.ts sets it', () => {
    // Prepare
    const words: Record<string, number> = { one: 1, two: 2, three: 3, four: 4 };
    const claim = section(readme, '## Tests').match(/\b(one|two|three|four|\d+) test files? at once\b/);

    // Assess
    expect(claim, 'README says how many test files run at once').not.toBeNull();
    const said = claim?.[1] ?? '';
    expect(words[said] ?? Number(said)).toBe(vitestConfig.test?.maxWorkers);
  });
});
