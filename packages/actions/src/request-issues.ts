import type { z } from 'zod';

/**
 * One thing wrong with a request, as data: the field it concerns and what is wrong. The error
 * text of `cmq call` and intake is built from these, and the console places each beside its
 * field from the same data (never by parsing the text back).
 */
export interface RequestIssue {
  /** The field's path in the request: `['priority']`, `['args', 'env', 'X']`; `[]`: the request as a whole. */
  path: readonly string[];
  /** What is wrong, without the field's name: `Too big: expected number to be <=100`. */
  message: string;
  /**
   * How the text names the field when not by its path (`countdown and eta`); `''` names none
   * (the message says it all).
   */
  subject?: string;
}

/** `priority: Too big...`, `(request): unknown field(s) x`, or the message alone when its subject is `''`. */
export function issueText(issue: RequestIssue): string {
  const subject = issue.subject ?? (issue.path.join('.') || '(request)');
  return subject === '' ? issue.message : `${subject}: ${issue.message}`;
}

/** The issues as one line, `; ` between them (the text of `cmq call`'s refusals). */
export function issuesText(issues: readonly RequestIssue[]): string {
  return issues.map(issueText).join('; ');
}

/** A zod issue as a request issue, its path under `prefix` (`['args']` for a type's arguments). */
export function zodIssue(issue: z.core.$ZodIssue, prefix: readonly string[] = []): RequestIssue {
  return {
    path: [...prefix, ...issue.path.map(String)],
    message: issue.code === 'unrecognized_keys' ? `unknown field(s) ${issue.keys.join(', ')}` : issue.message,
  };
}
