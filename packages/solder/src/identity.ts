import { randomUUID } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Who this machine is to the mothership; survives restarts so it re-registers as the same runner. */
export interface Identity {
  /** Generated once, never changed: the mothership recognises the machine by it. */
  device_id: string;
  runner_id?: string;
  /** The runner token (secret): the file is mode 600. */
  token?: string;
  /** The mothership the token belongs to. */
  mothership?: string;
}

const FILE = 'identity.json';

export async function loadIdentity(stateDir: string): Promise<Identity> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  try {
    const identity = JSON.parse(await readFile(join(stateDir, FILE), 'utf8')) as Identity;
    if (typeof identity.device_id === 'string' && identity.device_id.length > 0) return identity;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(`cannot read ${join(stateDir, FILE)}: ${(error as Error).message}`, { cause: error });
    }
  }
  const fresh: Identity = { device_id: randomUUID() };
  await saveIdentity(stateDir, fresh);
  return fresh;
}

/**
 * Written to a temporary file (mode 600 from the start) and renamed over the old one, so a
 * crash mid-write leaves either the old identity or the new one, never half of either (A10).
 */
export async function saveIdentity(stateDir: string, identity: Identity): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const target = join(stateDir, FILE);
  const tmp = `${target}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(identity, null, 2) + '\n', { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, target);
}
