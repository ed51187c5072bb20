import { describe, expect, it } from 'vitest';
import { formatResetDuration } from '#sim/rate-limits.ts';
import { countCompletionTokens, countPromptTokens, countTextTokens } from '#sim/server.ts';

describe('Function: countPromptTokens', () => {
  it('charges about a token per four characters plus framing per message', () => {
    // Prepare
    const text = 'x'.repeat(400);

    // Act
    const one = countPromptTokens([{ role: 'user', content: text }]);
    const two = countPromptTokens([
      { role: 'system', content: text },
      { role: 'user', content: text },
    ]);

    // Assess
    expect(one).toBe(100 + 4 + 3);
    expect(two).toBe(200 + 8 + 3);
  });

  it('counts the text of content parts and ignores parts without text', () => {
    // Act
    const tokens = countPromptTokens([
      {
        role: 'user',
        content: [{ type: 'text', text: 'abcdefgh' }, { type: 'image_url' }],
      },
    ]);

    // Assess
    expect(tokens).toBe(2 + 4 + 3);
  });
});

describe('Function: countCompletionTokens', () => {
  it('never bills less than one token', () => {
    expect(countCompletionTokens('')).toBe(1);
    expect(countCompletionTokens('abcde')).toBe(2);
    expect(countTextTokens('')).toBe(0);
  });
});

describe('Function: formatResetDuration', () => {
  it('writes durations as the provider does', () => {
    expect(formatResetDuration(6)).toBe('6ms');
    expect(formatResetDuration(1000)).toBe('1s');
    expect(formatResetDuration(8640)).toBe('8.64s');
    expect(formatResetDuration(90_500)).toBe('1m30.5s');
    expect(formatResetDuration(360_000)).toBe('6m0s');
  });
});
