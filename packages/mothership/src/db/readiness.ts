import type { Readiness } from '@borg/protocol';

import type { Database } from './database.ts';
import { isSchemaCurrent, type Migration } from './migrate.ts';

/** Whether this replica can serve: the database answers, and its schema is the code's. */
export async function checkReadiness(db: Database, migrations: Migration[]): Promise<Readiness> {
  const database = await db.query('SELECT 1').then(
    () => true,
    () => false,
  );
  const current = database && (await isSchemaCurrent(db, migrations).catch(() => false));
  return { ok: database && current, database, migrations: current };
}
