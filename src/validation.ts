// How a zod validation failure reads, wherever input is checked (HTTP bodies and queries,
// tool arguments and outputs): each issue as "path: message", the path dotted.
import type { z } from 'zod';

export interface ValidationIssue {
  path: string;
  message: string;
}

/** Each issue with its dotted path; `whole` stands for the path of the value itself. */
export function validationIssues(error: z.ZodError, whole: string): ValidationIssue[] {
  return error.issues.map((issue) => ({ path: issue.path.join('.') || whole, message: issue.message }));
}

/** "path: message; path: message", the first `max` issues. */
export function describeValidation(error: z.ZodError, whole: string, max = Infinity): string {
  return validationIssues(error, whole)
    .slice(0, max)
    .map((i) => `${i.path}: ${i.message}`)
    .join('; ');
}
