import { createHash } from 'node:crypto';

/** Statement text → its name as a prepared statement. */
const names = new Map<string, string>();

/**
 * Marks a statement the hot path runs many times a second (claims, reports, log batches, the
 * views their events carry). On PostgreSQL such a statement is parsed and planned once per
 * connection and executed by name after that, instead of being parsed, planned and bound anew
 * each time, which costs more than running most of them. Only fixed texts may be marked (never
 * one with values spliced in): each marked text is kept by every connection for its lifetime.
 * PGlite runs the text as it is.
 */
export function prepared(sql: string): string {
  if (!names.has(sql)) names.set(sql, `borg_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`);
  return sql;
}

/** The prepared statement's name of a marked text; undefined for any other. */
export function preparedName(sql: string): string | undefined {
  return names.get(sql);
}
