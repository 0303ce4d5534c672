import type * as z from 'zod';

/** Where a zod issue is, as a person writes it: `spec.license.name`, `items[2].time`. */
const pathOf = (issue: z.core.$ZodIssue): string =>
  issue.path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('')
    .replace(/^\./, '');

/** A failed parse's first issue: its field (`root` when it is the whole value) and message. */
export function firstIssue(error: z.ZodError, root: string): { field: string; message: string } {
  const issue = error.issues[0]!;
  return { field: pathOf(issue) || root, message: issue.message };
}
