import { fdatasync } from 'node:fs';
import { promisify } from 'node:util';

const datasync = promisify(fdatasync);

/** Unsynced bytes past which a sync starts while the upload goes on. */
const WRITEBACK_BYTES = 32 * 1024 * 1024;
const CHECK_MS = 100;

/**
 * Syncs a file being written every WRITEBACK_BYTES, while the writing goes on: the disk writes
 * the upload as it arrives instead of all of it in the one fsync at the end, which then has
 * only the last few megabytes left to wait for. The syncs run on libuv's thread pool, never on
 * the event loop. `stop` waits for a sync in flight, so the file may be closed after it.
 */
export function writeBackEarly(fd: number, written: () => number): { stop: () => Promise<void> } {
  let synced = 0;
  let inFlight: Promise<void> | undefined;
  const timer = setInterval(() => {
    const now = written();
    if (inFlight || now - synced < WRITEBACK_BYTES) return;
    inFlight = datasync(fd).then(
      () => {
        synced = now;
        inFlight = undefined;
      },
      // A failing disk fails the final sync too; that one is reported.
      () => (inFlight = undefined),
    );
  }, CHECK_MS);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await inFlight;
    },
  };
}
