import type { Readiness } from '@borg/protocol';

import type { Database } from './database.ts';
import { isSchemaCurrent, type Migration } from './migrate.ts';

/**
 * Whether this replica can serve: the database answers, and its schema is the code's. Whether
 * the file store answers is said too, but does not decide `ok` (see Readiness).
 */
export async function checkReadiness(
  db: Database,
  migrations: Migration[],
  storage: { ping?(): Promise<boolean> } = {},
): Promise<Readiness> {
  const [database, reachable] = await Promise.all([
    db.query('SELECT 1').then(
      () => true,
      () => false,
    ),
    storage.ping ? storage.ping().catch(() => false) : true,
  ]);
  const current = database && (await isSchemaCurrent(db, migrations).catch(() => false));
  return { ok: database && current, database, migrations: current, storage: reachable };
}
