import type * as z from 'zod';

/**
 * A zod error as one line that names each bad field, e.g. `body: expected string, received undefined; title:
 * title must not be empty`, for error records, DLQ attributes and logs.
 * @example formatIssues(intakeItemSchema.safeParse(raw).error)
 */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      return path === '' ? issue.message : `${path}: ${issue.message.replace(/^Invalid input: /, '')}`;
    })
    .join('; ');
}
