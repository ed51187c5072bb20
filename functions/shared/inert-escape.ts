/**
 * A character written out as an inert escape, `\x1b` for one up to U+00FF and `\u202e` above: how sluice shows a
 * character it must not pass on as it is (to a terminal, to an SQS attribute), so that a reader still sees it was
 * there.
 * @example inertEscape('\u001b') // '\\x1b'
 */
export function inertEscape(char: string): string {
  const code = char.codePointAt(0) ?? 0;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}
