import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import lockfile from 'proper-lockfile';

export class DataDirLockedError extends Error {
  constructor(dir: string) {
    super(`the data directory ${dir} is in use by another Borg process; stop it or choose another BORG_DATA_DIR`);
    this.name = 'DataDirLockedError';
  }
}

/**
 * PGlite will happily let two processes open one directory, and writes are then silently lost.
 * This lock (a directory created atomically, its mtime refreshed every 2.5 s) makes the second
 * process refuse to start. A lock left by a killed process goes stale after 5 s, so a restart
 * right after a crash waits those seconds and then takes over.
 */
export async function lockDataDir(dir: string): Promise<() => Promise<void>> {
  await mkdir(dir, { recursive: true });
  try {
    return await lockfile.lock(dir, {
      lockfilePath: join(dir, 'borg.lock'),
      stale: 5_000,
      update: 2_500,
      retries: { retries: 7, factor: 1, minTimeout: 1_000, maxTimeout: 1_000 },
      realpath: false,
      onCompromised: (error) => {
        // Another process took the directory over: carrying on would corrupt it.
        console.error(`borg: lost the lock on ${dir}: ${error.message}; exiting`);
        process.exit(70);
      },
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') throw new DataDirLockedError(dir);
    throw error;
  }
}
