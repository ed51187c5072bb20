/** Bad command-line usage: exit code 2, with the message and a pointer to --help. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Exit codes every command uses. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;
