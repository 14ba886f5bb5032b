import { z } from 'zod';

import { LogStream } from './logs.ts';

/** The longest pattern a log search takes. */
export const MAX_SEARCH_PATTERN_LENGTH = 256;
/** The most matches one search answers (`limit`). */
export const MAX_SEARCH_MATCHES = 10_000;

export const LogSearchQuery = z.strictObject({
  /** A JavaScript regular expression, checked before use (searchPatternProblem). */
  q: z.string().min(1).max(MAX_SEARCH_PATTERN_LENGTH),
  stream: z.enum(['stdout', 'stderr']).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_SEARCH_MATCHES).default(1000),
});
export type LogSearchQuery = z.infer<typeof LogSearchQuery>;

/** One NDJSON line of a search's answer: a matching line… */
export const LogSearchMatch = z.object({
  task_id: z.string(),
  /** The element (array index) of the task. */
  index: z.number().int(),
  /** The line's index in the task's log. */
  line: z.number().int(),
  stream: LogStream,
  message: z.string(),
  timestamp: z.string(),
});
export type LogSearchMatch = z.infer<typeof LogSearchMatch>;

/** …and the last line: whether every log was searched, and if not why. */
export const LogSearchDone = z.object({
  done: z.literal(true),
  cut_short: z.boolean(),
  reason: z.string().nullable(),
  matches: z.number().int(),
});
export type LogSearchDone = z.infer<typeof LogSearchDone>;

/**
 * Why a pattern may not be used, or null. A backtracking engine can take exponential time on a
 * pattern whose quantified group itself holds a quantifier (`(a+)+`, `(a|aa)*`… the nested
 * kind) or on backreferences, so those are refused; the rest must compile.
 */
export function searchPatternProblem(pattern: string): string | null {
  if (pattern.length > MAX_SEARCH_PATTERN_LENGTH) return `longer than ${MAX_SEARCH_PATTERN_LENGTH} characters`;
  if (/\\[1-9]|\\k</.test(pattern)) return 'backreferences are not allowed';
  if (hasNestedQuantifier(pattern)) {
    return 'nested quantifiers (a repeated group that itself repeats or alternates, like (a+)+) can backtrack catastrophically';
  }
  try {
    new RegExp(pattern);
  } catch (error) {
    return `not a regular expression: ${(error as Error).message}`;
  }
  return null;
}

/** Whether a repeated group holds a quantifier or an alternation (escapes and [classes] skipped). */
function hasNestedQuantifier(pattern: string): boolean {
  // For each open group: whether it holds a quantifier or `|` so far.
  const open: boolean[] = [];
  let lastGroupRisky = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    const repeats = c === '+' || c === '*' || (c === '{' && /^\{\d+,\d*\}/.test(pattern.slice(i)));
    if (repeats && lastGroupRisky) return true;
    lastGroupRisky = false;
    if (c === '\\') {
      i++;
    } else if (c === '[') {
      while (i + 1 < pattern.length && pattern[i + 1] !== ']') i += pattern[i + 1] === '\\' ? 2 : 1;
      i++;
    } else if (c === '(') {
      open.push(false);
    } else if (c === ')') {
      const risky = open.pop() ?? false;
      if (open.length > 0 && risky) open[open.length - 1] = true;
      lastGroupRisky = risky;
    } else if (repeats || c === '|' || c === '?') {
      if (open.length > 0 && c !== '?') open[open.length - 1] = true;
    }
  }
  return false;
}
