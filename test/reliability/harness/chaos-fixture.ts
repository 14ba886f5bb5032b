import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, expect } from 'vitest';

import { createTestDatabase, type TestDatabase } from '../../test-database.ts';
import { MothershipProcess, openDatabaseOf } from './borg-processes.ts';
import { InvariantChecker } from './invariants.ts';

export interface ChaosFixture {
  /** The real `borg mothership` process of this file (started before its first test). */
  readonly mothership: MothershipProcess;
  /** A folder of this file's own, removed at the end. */
  readonly scratch: string;
  /** Runs at the end, newest first, before the invariants are checked (solders, proxies, pids). */
  onCleanup(cleanup: () => Promise<unknown>): void;
}

/**
 * What the process-level chaos files share: a test database, a real mothership on it, a scratch
 * folder, and at the end, once everything the file started has stopped, the invariant checker
 * (I1–I8) over everything its scenarios did.
 */
export function useChaosMothership(name: string): ChaosFixture {
  let database: TestDatabase;
  let mothership: MothershipProcess | undefined;
  let scratch: string | undefined;
  const cleanups: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    scratch = await mkdtemp(join(tmpdir(), `borg-chaos-${name}-`));
    await chmod(scratch, 0o1777); // a root solder runs tasks as another user, who writes here
    mothership = await MothershipProcess.start({ databaseUrl: database.databaseUrl, dataDir: database.dataDir });
  });

  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await mothership?.kill('SIGTERM');
    const db = await openDatabaseOf({ databaseUrl: database.databaseUrl, dataDir: database.dataDir });
    try {
      const found = await new InvariantChecker(() => db, { storageDir: mothership!.storageDir }).check();
      expect(found).toEqual([]);
    } finally {
      await db.close();
      await database.drop();
      if (scratch) await rm(scratch, { recursive: true, force: true });
    }
  });

  return {
    get mothership() {
      if (!mothership) throw new Error('the chaos mothership is not started yet (use it inside a test)');
      return mothership;
    },
    get scratch() {
      if (!scratch) throw new Error('the chaos scratch folder is not made yet (use it inside a test)');
      return scratch;
    },
    onCleanup: (cleanup) => void cleanups.push(cleanup),
  };
}
