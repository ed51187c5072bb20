import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { PUBLISHED_EVENT_VERSION, publishedEventSchema } from '#shared/schemas.ts';

/** docs/published-event.md is the consumers' contract: it must say what the code sends. */

describe('Project: the published event documentation', () => {
  it('shows an example the schema accepts, and a row for each of its fields, at the version the code sends', async () => {
    // Prepare
    const doc = await readFile(new URL('../../docs/published-event.md', import.meta.url), 'utf8');
    const [example] = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((match) => match[1] ?? '');
    const rows = [...doc.matchAll(/^\| `(\w+)` +\|/gm)].map((match) => match[1]);

    // Act
    const parsed = publishedEventSchema.safeParse(JSON.parse(example ?? '{}'));

    // Assess
    expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
    expect(rows.sort()).toEqual(Object.keys(publishedEventSchema.shape).sort());
    expect(doc).toContain(`\`schemaVersion\` is \`${PUBLISHED_EVENT_VERSION}\``);
  });
});
