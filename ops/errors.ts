/** The expected failures of operator actions, and how their messages repeat a value the operator gave. */

/** Longest part of a bad value an error message repeats. */
const SHOWN_CHARACTERS = 60;

/**
 * A value as an error message repeats it: as it is when short, else its start and its length, so a pasted
 * 10,000-character argument still gives a one-line error.
 * @example shown('x'.repeat(10_000)) // 'xxxx…x… (10000 characters)'
 */
export function shown(text: string): string {
  return text.length <= SHOWN_CHARACTERS ? text : `${text.slice(0, 40)}… (${text.length} characters)`;
}

/**
 * An expected failure of an operator command: its message is printed as is, and the exit code is 1.
 * @example throw new CommandError(`no item '${itemId}' in the state table`);
 */
export class CommandError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CommandError';
  }
}
