import { type BorgClient, type IdKind, MAX_ID_MATCHES, type ResolvedId } from '@borg/protocol';

import { CliError, ExitCode, usageError } from './cli-error.ts';

/** The fewest characters of an id the CLI looks up: fewer would match too many to be useful. */
export const MIN_ID_PREFIX = 6;

const FULL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PREFIX = /^[0-9a-f-]{6,35}$/;

/** An id as resolved: its kind is null when a whole id was typed (nothing was asked). */
export interface FullId {
  id: string;
  kind: IdKind | null;
}

/**
 * The whole id a person meant by what they typed: a whole id as it is, or the one job, task or
 * runner (of `kinds`) whose id starts with it (at least 6 characters, asked of the mothership).
 * None is the usual "not found" (exit 3); more than one lists them (exit 2).
 */
export async function fullId(client: BorgClient, typed: string, kinds: readonly IdKind[]): Promise<FullId> {
  const text = typed.toLowerCase();
  if (FULL_ID.test(text)) return { id: text, kind: null };
  const what = kindsText(kinds);
  if (!PREFIX.test(text)) {
    throw usageError(
      `"${typed}" is not a ${what} id`,
      `ids look like 0b6f1c2e-…; give the whole id or its first ${MIN_ID_PREFIX} characters or more`,
    );
  }
  const { items } = await client.resolveIds({ prefix: text, kind: kinds.join(',') });
  if (items.length === 1) return { id: items[0]!.id, kind: items[0]!.kind };
  if (items.length === 0) {
    throw new CliError(`no ${what} has an id starting with ${text}`, ExitCode.NOT_FOUND, 'see `borg jobs list`');
  }
  throw usageError(
    `${text} is the start of ${items.length === MAX_ID_MATCHES ? `${MAX_ID_MATCHES} or more` : items.length} ids: ${items.map(matchText).join(', ')}`,
    'give more of the id',
  );
}

/** "job", "job or task": what an id names, for messages. */
export function kindsText(kinds: readonly IdKind[]): string {
  return kinds.join(' or ');
}

function matchText(match: ResolvedId): string {
  return `${match.kind} ${match.id} (${match.name})`;
}
