import { chmod, mkdir, stat } from 'node:fs/promises';

/**
 * The data directory, the storage directory and everything in them (the embedded database,
 * uploaded files, artifacts, the secret key) are for the mothership's own user alone:
 * directories 0700, files 0600, whatever the umask. A mode given to mkdir or open passes
 * through the umask, which can only take bits away; chmod sets it exactly.
 */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/** Where a warning about a path that was open to others goes (the mothership's logger). */
export interface PathWarnings {
  warn(details: { path: string; mode: string; now?: string; err?: unknown }, message: string): void;
}

/**
 * Creates a directory (and any missing parents) as 0700. One that already existed open to its
 * group or others is tightened to 0700 with a warning, since files may have been read from it.
 */
export async function ensurePrivateDir(path: string, warnings?: PathWarnings): Promise<void> {
  const created = await mkdir(path, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (created !== undefined) return chmod(path, PRIVATE_DIR_MODE);
  await tighten(path, PRIVATE_DIR_MODE, warnings);
}

/** A file that exists already: 0600, with a warning when it had been open to others. */
export async function ensurePrivateFile(path: string, warnings?: PathWarnings): Promise<void> {
  await tighten(path, PRIVATE_FILE_MODE, warnings);
}

async function tighten(path: string, wanted: number, warnings?: PathWarnings): Promise<void> {
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) === 0) return; // the owner's own bits are the owner's business
  const octal = (m: number) => m.toString(8).padStart(4, '0');
  try {
    await chmod(path, wanted);
    warnings?.warn(
      { path, mode: octal(mode), now: octal(wanted) },
      'this path was readable by other users; its mode is now tightened',
    );
  } catch (error) {
    // Not its owner (a share mounted by someone else): say so and go on rather than refuse to start.
    warnings?.warn(
      { path, mode: octal(mode), err: error },
      'this path is readable by other users and cannot be tightened',
    );
  }
}
