import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bucketTop, learnedLimit, MIN_ANSWERS, sizeBucket } from '#shared/completion-sizes.ts';

/** A histogram of answers of the given sizes. */
const histogramOf = (sizes: readonly number[]) => {
  const histogram: Record<string, number> = {};
  for (const size of sizes) histogram[sizeBucket(size)] = (histogram[sizeBucket(size)] ?? 0) + 1;
  return histogram;
};

describe('Learned max_tokens', () => {
  it('puts every size in a bucket whose top holds it, at most about a fifth above it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), (tokens) => {
        const top = bucketTop(sizeBucket(tokens));
        expect(top).toBeGreaterThanOrEqual(tokens);
        expect(top).toBeLessThanOrEqual(Math.ceil(tokens * 2 ** 0.25));
      }),
    );
  });

  it('asks for the maximum until enough answers are known', () => {
    // Act & Assess
    expect(learnedLimit(undefined, 4096)).toBe(4096);
    expect(learnedLimit(histogramOf(Array(MIN_ANSWERS - 1).fill(300)), 4096)).toBe(4096);
  });

  it('asks for the 99th percentile plus a fifth, so a rare long answer moves it and one in two hundred does not', () => {
    // Prepare: 990 answers of about 300 tokens, then 10 of 1,000; and 995 of 300 with 5 of 1,000
    const tenLong = histogramOf([...Array(990).fill(300), ...Array(10).fill(1000)]);
    const fiveLong = histogramOf([...Array(995).fill(300), ...Array(5).fill(1000)]);

    // Act & Assess
    expect(learnedLimit(tenLong, 4096)).toBe(Math.ceil(bucketTop(sizeBucket(300)) * 1.2));
    expect(learnedLimit(histogramOf([...Array(980).fill(300), ...Array(20).fill(1000)]), 4096)).toBe(
      Math.ceil(bucketTop(sizeBucket(1000)) * 1.2),
    );
    expect(learnedLimit(fiveLong, 4096)).toBeLessThan(400);
  });

  it('never asks for more than the configured maximum, nor less than 64', () => {
    // Act & Assess
    expect(learnedLimit(histogramOf(Array(100).fill(3000)), 2048)).toBe(2048);
    expect(learnedLimit(histogramOf(Array(100).fill(3)), 2048)).toBe(64);
  });
});
