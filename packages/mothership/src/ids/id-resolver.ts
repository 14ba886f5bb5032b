import { type IdKind, MAX_ID_MATCHES, type ResolvedId } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';
import { jobStore } from '../jobs/job-store.ts';
import { taskStore } from '../jobs/task-store.ts';
import { runnerStore } from '../runners/runner-store.ts';
import { scheduleStore } from '../schedules/schedule-store.ts';

type IdsBetween = (db: Queryable, low: string, high: string, limit: number) => Promise<{ id: string; name: string }[]>;

const STORE_OF_KIND: Record<IdKind, IdsBetween> = {
  job: jobStore.idsBetween,
  task: taskStore.idsBetween,
  runner: runnerStore.idsBetween,
  schedule: scheduleStore.idsBetween,
};

/**
 * Ids as people type them (`borg jobs show 389e0e`): every job, task or runner whose id starts
 * with a prefix. A prefix is a range of UUIDs, so each lookup walks the primary key's index
 * rather than every row's text.
 */
export class IdResolver {
  constructor(private readonly db: Queryable) {}

  async resolve(prefix: string, kinds: readonly IdKind[]): Promise<ResolvedId[]> {
    const range = idPrefixRange(prefix);
    if (!range) return [];
    const found: ResolvedId[] = [];
    for (const kind of new Set(kinds)) {
      if (found.length >= MAX_ID_MATCHES) break;
      const rows = await STORE_OF_KIND[kind](this.db, range.low, range.high, MAX_ID_MATCHES - found.length);
      found.push(...rows.map((row) => ({ kind, ...row })));
    }
    return found;
  }
}

/**
 * The lowest and highest UUIDs that start with `prefix` (hex digits, with dashes where a UUID
 * has them); null when no UUID can start with it (a dash out of place, too many digits).
 */
export function idPrefixRange(prefix: string): { low: string; high: string } | null {
  const digits = prefix.toLowerCase().replace(/-/g, '');
  if (!/^[0-9a-f]{1,32}$/.test(digits)) return null;
  const low = asUuid(digits.padEnd(32, '0'));
  if (!low.startsWith(prefix.toLowerCase())) return null;
  return { low, high: asUuid(digits.padEnd(32, 'f')) };
}

function asUuid(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
