import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as z from 'zod';
import { type DraftPayload, draftMessages, extractMessages, reviewMessages } from '#shared/prompts.ts';
import {
  draftSchema,
  type IntakeItem,
  type Knowledge,
  knowledgeSchema,
  OUTPUT_FORMATS,
  reviewSchema,
} from '#shared/schemas.ts';
import {
  ALWAYS_ACCEPT_FROM_REVISION,
  answerFor,
  generateDraft,
  generateKnowledge,
  generateReview,
  plannedFlaw,
} from '#sim/server.ts';
import { readSampleFile } from './sample-items.ts';

const { valid: samples } = readSampleFile();

function firstDraftPayload(item: IntakeItem, knowledge: Knowledge): DraftPayload {
  return {
    item: { id: item.id, title: item.title, url: item.url, source: item.source },
    knowledge,
    related: [],
    revision: 0,
  };
}

function firstRound(item: IntakeItem) {
  const knowledge = generateKnowledge({ item });
  const payload = firstDraftPayload(item, knowledge);
  const draft = generateDraft(payload);
  const review = generateReview({ knowledge, draft, revision: 0 });
  return { knowledge, payload, draft, review };
}

describe('Function: generateKnowledge', () => {
  it('gives schema-valid knowledge for every sample item', () => {
    for (const item of samples) {
      // Act
      const knowledge = generateKnowledge({ item });

      // Assess
      expect(knowledgeSchema.safeParse(knowledge).success).toBe(true);
      expect(knowledge.keyClaims.length).toBeGreaterThanOrEqual(1);
      expect(knowledge.keyClaims.length).toBeLessThanOrEqual(8);
      expect(knowledge.topics.length).toBeLessThanOrEqual(6);
      expect(knowledge.summary.length).toBeLessThanOrEqual(400);
      for (const topic of knowledge.topics) expect(topic).toBe(topic.toLowerCase());
    }
  });

  it('summarises from the lead and takes key claims verbatim from the body', () => {
    // Prepare
    const item = samples.find((sample) => sample.id === 'sample-001');
    if (item === undefined) throw new Error('sample-001 is missing');

    // Act
    const knowledge = generateKnowledge({ item });

    // Assess
    expect(item.body.startsWith(knowledge.summary.slice(0, 60))).toBe(true);
    for (const claim of knowledge.keyClaims) expect(item.body.replace(/\s+/g, ' ')).toContain(claim);
    expect(knowledge.keyClaims.some((claim) => claim.includes('420 million euros'))).toBe(true);
  });

  it('finds named entities with a plausible kind and topics from the vocabulary', () => {
    // Prepare
    const item = samples.find((sample) => sample.id === 'sample-001');
    if (item === undefined) throw new Error('sample-001 is missing');

    // Act
    const knowledge = generateKnowledge({ item });

    // Assess
    expect(knowledge.entities).toEqual(
      expect.arrayContaining([
        { name: 'Kestrel Cloud', kind: 'organization' },
        { name: 'Anna Berg', kind: 'person' },
        { name: 'Lyon', kind: 'place' },
      ]),
    );
    expect(knowledge.topics).toContain('cloud');
  });

  it('answers the same item the same way every time', () => {
    // Prepare
    const [item] = samples;
    if (item === undefined) throw new Error('no samples');

    // Act
    const first = generateKnowledge({ item });
    const second = generateKnowledge({ item: structuredClone(item) });

    // Assess
    expect(second).toEqual(first);
  });

  it('stays schema-valid for arbitrary text', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (id, title, body) => {
        // Act
        const knowledge = generateKnowledge({ item: { id, title, body } });

        // Assess
        expect(knowledgeSchema.safeParse(knowledge).success).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
  it('cuts a long lead of emoji between characters, never inside a surrogate pair', () => {
    for (const prefix of ['Fan wrote ', 'Fans wrote ']) {
      // Prepare: one sentence far past the summary's length, with no space to cut at near the end
      const item: IntakeItem = {
        id: 'emoji-storm',
        title: 'Emoji storm 🚀',
        body: `${prefix}${'🚀'.repeat(300)} at the launch of the 2026 season.`,
      };

      // Act
      const knowledge = generateKnowledge({ item });
      const draft = generateDraft(firstDraftPayload(item, knowledge));

      // Assess
      expect(knowledge.summary).toMatch(/🚀…$/u);
      for (const text of [knowledge.summary, ...knowledge.keyClaims, draft.title, draft.markdown]) {
        expect(text.isWellFormed()).toBe(true);
      }
    }
  });
});

describe('Function: generateDraft', () => {
  it('gives a schema-valid Markdown post citing only key claims for every sample item', () => {
    for (const item of samples) {
      // Act
      const { knowledge, draft } = firstRound(item);

      // Assess
      expect(draftSchema.safeParse(draft).success).toBe(true);
      expect(draft.markdown.startsWith(`# ${draft.title}`)).toBe(true);
      for (const claim of draft.citedClaims) {
        expect(knowledge.keyClaims).toContain(claim);
        expect(draft.markdown).toContain(claim);
      }
    }
  });

  it('adds a section that names the related items when there are some', () => {
    // Prepare
    const [item, other] = samples;
    if (item === undefined || other === undefined) throw new Error('not enough samples');
    const knowledge = generateKnowledge({ item });
    const related = [{ itemId: other.id, title: other.title, summary: generateKnowledge({ item: other }).summary }];

    // Act
    const withRelated = generateDraft({ ...firstDraftPayload(item, knowledge), related });
    const without = generateDraft(firstDraftPayload(item, knowledge));

    // Assess
    expect(withRelated.markdown).toContain('## Related');
    expect(withRelated.markdown).toContain(other.title);
    expect(without.markdown).not.toContain('## Related');
  });

  it('stays schema-valid for arbitrary knowledge', () => {
    const knowledgeArbitrary = fc.record({
      summary: fc.string({ minLength: 1 }),
      keyClaims: fc.array(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 12 }),
      entities: fc.array(
        fc.record({
          name: fc.string({ minLength: 1 }),
          kind: fc.constantFrom('person', 'organization', 'product', 'place', 'technology', 'other'),
        }),
        { maxLength: 30 },
      ),
      topics: fc.array(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 8 }),
      language: fc.constantFrom('en', 'de', 'fr', 'es', 'pt', 'xx-YY'),
    });
    fc.assert(
      fc.property(fc.string(), fc.string(), knowledgeArbitrary, fc.nat(3), (id, title, knowledge, revision) => {
        // Act
        const draft = generateDraft({ item: { id, title }, knowledge, related: [], revision });
        const review = generateReview({ knowledge, draft, revision });

        // Assess
        expect(draftSchema.safeParse(draft).success).toBe(true);
        expect(reviewSchema.safeParse(review).success).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

describe('Function: generateReview', () => {
  const rounds = samples.map((item) => ({ item, ...firstRound(item) }));
  const rejected = rounds.filter((round) => round.review.verdict === 'reject');

  it('gives a schema-valid review for every sample item', () => {
    for (const { review } of rounds) expect(reviewSchema.safeParse(review).success).toBe(true);
  });

  it('rejects about one first draft in three, not all and not none', () => {
    // Assess
    expect(rejected.length).toBeGreaterThanOrEqual(Math.floor(samples.length * 0.2));
    expect(rejected.length).toBeLessThanOrEqual(Math.ceil(samples.length * 0.45));
  });

  it('rejects exactly the first drafts that were planned with a flaw, naming the flaw', () => {
    for (const { payload, review, knowledge } of rounds) {
      // Act
      const flaw = plannedFlaw(payload);

      // Assess
      expect(review.verdict).toBe(flaw === undefined ? 'accept' : 'reject');
      if (flaw?.kind === 'omitted-claim') {
        expect(review.feedback).toContain(`Missing key claim: ${JSON.stringify(knowledge.keyClaims[flaw.claimIndex])}`);
      }
      if (flaw?.kind === 'unsupported-sentence') {
        expect(review.unsupportedClaims).toEqual([flaw.sentence]);
        expect(review.feedback).toContain(flaw.sentence);
      }
    }
  });

  it('accepts a revision that addressed the feedback, and the revision visibly changed', () => {
    for (const { payload, draft, review, knowledge } of rejected) {
      // Act
      const revised = generateDraft({ ...payload, revision: 1, previousDraft: draft, feedback: review.feedback });
      const second = generateReview({ knowledge, draft: revised, revision: 1 });

      // Assess
      expect(second.verdict).toBe('accept');
      expect(revised.markdown).not.toBe(draft.markdown);
      for (const sentence of review.unsupportedClaims) expect(revised.markdown).not.toContain(sentence);
      for (const claim of knowledge.keyClaims) expect(revised.citedClaims).toContain(claim);
    }
  });

  it(`accepts every draft from revision ${ALWAYS_ACCEPT_FROM_REVISION} on, so revisions converge`, () => {
    for (const { draft, knowledge } of rejected) {
      // Act
      const review = generateReview({ knowledge, draft, revision: ALWAYS_ACCEPT_FROM_REVISION });

      // Assess
      expect(review.verdict).toBe('accept');
    }
  });

  it('flags a figure nobody stated and a citation that is not a key claim', () => {
    // Prepare
    const knowledge: Knowledge = {
      summary: 'Acme opened a plant.',
      keyClaims: ['Acme opened a plant with 300 workers.'],
      entities: [],
      topics: ['industry'],
      language: 'en',
    };
    const draft = {
      title: 'Acme plant',
      markdown: '# Acme plant\n\nAcme opened a plant with 300 workers. Output will reach 9,000 cars a year.',
      citedClaims: ['Acme opened a plant with 300 workers.', 'Acme is the best.'],
    };

    // Act
    const review = generateReview({ knowledge, draft, revision: 0 });

    // Assess
    expect(review.verdict).toBe('reject');
    expect(review.unsupportedClaims).toEqual(['Output will reach 9,000 cars a year.', 'Acme is the best.']);
  });
});

describe('Function: answerFor', () => {
  it('answers each step of the pipeline through its prompt builder', () => {
    // Prepare
    const [item] = samples;
    if (item === undefined) throw new Error('no samples');
    const knowledge = generateKnowledge({ item });
    const draft = generateDraft(firstDraftPayload(item, knowledge));

    // Act
    const extract = answerFor(OUTPUT_FORMATS.knowledge, extractMessages({ item }));
    const drafted = answerFor(OUTPUT_FORMATS.draft, draftMessages(firstDraftPayload(item, knowledge)));
    const reviewed = answerFor(OUTPUT_FORMATS.review, reviewMessages({ knowledge, draft, revision: 0 }));

    // Assess
    expect(knowledgeSchema.parse(JSON.parse(extract.content))).toEqual(knowledge);
    expect(draftSchema.parse(JSON.parse(drafted.content))).toEqual(draft);
    expect(reviewSchema.safeParse(JSON.parse(reviewed.content)).success).toBe(true);
  });

  it('answers unreadable payloads with schema-valid output and unknown formats with plain text', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json().map((json) => `Payload:\n\`\`\`json\n${json}\n\`\`\``),
        ),
        (content) => {
          // Prepare
          const messages = [{ role: 'user', content }];

          // Act
          const knowledge = answerFor(OUTPUT_FORMATS.knowledge, messages);
          const draft = answerFor(OUTPUT_FORMATS.draft, messages);
          const review = answerFor(OUTPUT_FORMATS.review, messages);
          const text = answerFor('something_else', messages);

          // Assess
          expect(knowledgeSchema.safeParse(JSON.parse(knowledge.content)).success).toBe(true);
          expect(draftSchema.safeParse(JSON.parse(draft.content)).success).toBe(true);
          expect(reviewSchema.safeParse(JSON.parse(review.content)).success).toBe(true);
          expect(text.format).toBe('text');
          expect(text.content.length).toBeGreaterThan(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('answers a format it has no generator for with a value of the schema the request sent', () => {
    // Prepare: a schema of the kind a stage sluice does not ship would send, in the form the client sends it
    const schema = z
      .object({
        language: z.string().regex(/^[a-z]{2}$/),
        summary: z.string().min(1).max(400),
        tone: z.enum(['neutral', 'upbeat']),
        points: z.array(z.object({ text: z.string().min(1), weight: z.number().int().min(1).max(5) }).strict()).min(1),
      })
      .strict();
    const json = z.toJSONSchema(schema, { target: 'draft-7', io: 'output' }) as Record<string, unknown>;
    const messagesOf = (text: string) => [{ role: 'user', content: text }];

    fc.assert(
      fc.property(fc.string(), fc.string(), (first, second) => {
        // Act
        const answer = answerFor('summary_translation', messagesOf(first), json);
        const again = answerFor('summary_translation', messagesOf(first), json);
        const other = answerFor('summary_translation', messagesOf(second), json);

        // Assess
        expect(answer.format).toBe('schema');
        expect(schema.safeParse(JSON.parse(answer.content)).error).toBeUndefined();
        expect(schema.safeParse(JSON.parse(other.content)).error).toBeUndefined();
        expect(again.content).toBe(answer.content);
      }),
      { numRuns: 100 },
    );
  });
});
