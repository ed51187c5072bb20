import { describe, expect, it } from 'vitest';
import { intakeItemSchema } from '#shared/schemas.ts';
import { generateKnowledge } from '#sim/server.ts';
import { readSampleFile } from './sample-items.ts';

describe('Sample items', () => {
  const { lines, valid } = readSampleFile();

  it('holds about fifty valid items followed by exactly three invalid ones', () => {
    // Prepare
    const verdicts = lines.map((line) => intakeItemSchema.safeParse(line).success);

    // Act
    const firstInvalid = verdicts.indexOf(false);

    // Assess
    expect(valid.length).toBeGreaterThanOrEqual(45);
    expect(valid.length).toBeLessThanOrEqual(55);
    expect(firstInvalid).toBe(lines.length - 3);
    expect(verdicts.slice(firstInvalid)).toEqual([false, false, false]);
  });

  it('makes each invalid item fail for a different, clearly named field', () => {
    // Prepare
    const invalid = lines.slice(-3);

    // Act
    const failures = invalid.map((line) => {
      const result = intakeItemSchema.safeParse(line);
      return result.success ? [] : result.error.issues.map((issue) => issue.path.join('.'));
    });

    // Assess
    expect(failures).toEqual([['body'], ['title'], ['id']]);
  });

  it('gives every valid item a unique id and a realistic multi-paragraph body', () => {
    // Act
    const ids = new Set(valid.map((item) => item.id));

    // Assess
    expect(ids.size).toBe(valid.length);
    for (const item of valid) {
      expect(item.id).toMatch(/^sample-\d{3}$/);
      expect(item.body.length).toBeGreaterThanOrEqual(600);
      expect(item.body.length).toBeLessThanOrEqual(2000);
      expect(item.body.split(/\n\s*\n/).length).toBeGreaterThanOrEqual(3);
    }
  });

  it('covers German, French and Spanish besides English', () => {
    // Act
    const languages = valid.map((item) => generateKnowledge({ item }).language);

    // Assess
    for (const language of ['de', 'fr', 'es']) {
      expect(languages.filter((found) => found === language).length).toBeGreaterThanOrEqual(2);
    }
    expect(languages.filter((found) => found === 'en').length).toBeGreaterThan(valid.length / 2);
  });

  it('lets every item share a topic or an entity with another item, so memory finds related posts', () => {
    // Prepare
    const tags = valid.map((item) => {
      const knowledge = generateKnowledge({ item });
      return new Set([...knowledge.topics, ...knowledge.entities.map((entity) => entity.name)]);
    });

    // Act
    const loners = valid.filter((_, index) =>
      tags.every(
        (other, otherIndex) => otherIndex === index || [...(tags[index] ?? [])].every((tag) => !other.has(tag)),
      ),
    );

    // Assess
    expect(loners.map((item) => item.id)).toEqual([]);
  });
});
