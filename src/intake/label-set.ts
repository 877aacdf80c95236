// The caps every alert route puts on labels and annotations: enough for any real alert,
// and small enough that one notification can never become a huge run trigger or audit entry.
import { z } from 'zod';

export const MAX_LABELS = 100;
export const MAX_LABEL_NAME = 200;
export const MAX_LABEL_VALUE = 2000;

/** A label or annotation set: at most 100 entries, names of 1..200 characters, values up to 2000. */
export const labelSetSchema = z
  .record(
    z.string().min(1).max(MAX_LABEL_NAME, `label and annotation names are at most ${MAX_LABEL_NAME} characters`),
    z.string().max(MAX_LABEL_VALUE, `label and annotation values are at most ${MAX_LABEL_VALUE} characters`),
  )
  .refine((r) => Object.keys(r).length <= MAX_LABELS, `at most ${MAX_LABELS} entries`);

/** The first issues of a failed parse, each naming its field. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`)
    .join('; ');
}
