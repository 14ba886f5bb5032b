import { describe, expect, it } from 'vitest';

import { ENGINE, TEST_DATABASE_URL } from '../../../test/test-database.ts';
import { PgDatabase } from '../src/db/pg-database.ts';

/** What every pooled PostgreSQL connection of a mothership runs with. */
describe.skipIf(ENGINE !== 'postgres')('PostgreSQL session settings', () => {
  it('turns JIT compilation off on every connection of the pool (the server default is on)', async () => {
    const db = new PgDatabase({ connectionString: TEST_DATABASE_URL!, maxConnections: 4 });
    try {
      // Four at once, so the pool opens four connections.
      const answers = await Promise.all(
        Array.from({ length: 4 }, () =>
          db.query<{ jit: string; pid: number }>(
            "SELECT current_setting('jit') AS jit, pg_backend_pid() AS pid, pg_sleep(0.1)",
          ),
        ),
      );
      const rows = answers.map((answer) => answer.rows[0]!);
      expect(new Set(rows.map((row) => row.pid)).size).toBe(4);
      expect(rows.map((row) => row.jit)).toEqual(['off', 'off', 'off', 'off']);
    } finally {
      await db.close();
    }
  });
});
