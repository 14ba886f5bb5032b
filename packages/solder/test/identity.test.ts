import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { loadIdentity, saveIdentity } from '../src/identity.ts';

/** Test plan A10: the runner token is kept in a file only its owner can read, written atomically. */
describe('the solder identity file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = join(await mkdtemp(join(tmpdir(), 'borg-identity-')), 'state');
  });
  afterEach(() => rm(join(dir, '..'), { recursive: true, force: true }));

  it('is created with a device id, in a directory and file only the owner can read (700, 600)', async () => {
    const identity = await loadIdentity(dir);
    expect(identity.device_id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'identity.json'))).mode & 0o777).toBe(0o600);
    expect(await loadIdentity(dir)).toEqual(identity); // the same machine, the same id
  });

  it('replaces the token by a rename: the file stays 600, no temporary file is left, the device id stays', async () => {
    const first = await loadIdentity(dir);
    await saveIdentity(dir, { ...first, runner_id: 'r1', token: 'borg_run_old', mothership: 'http://m' });
    await saveIdentity(dir, { ...first, runner_id: 'r1', token: 'borg_run_new', mothership: 'http://m' });
    expect(await readdir(dir)).toEqual(['identity.json']);
    expect((await stat(join(dir, 'identity.json'))).mode & 0o777).toBe(0o600);
    expect(await loadIdentity(dir)).toEqual({
      ...first,
      runner_id: 'r1',
      token: 'borg_run_new',
      mothership: 'http://m',
    });
  });

  it('tightens a file that an operator left readable by others when it writes the next token', async () => {
    const first = await loadIdentity(dir);
    await writeFile(join(dir, 'identity.json'), JSON.stringify(first), { mode: 0o644 });
    await saveIdentity(dir, { ...first, token: 'borg_run_x' });
    expect((await stat(join(dir, 'identity.json'))).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(join(dir, 'identity.json'), 'utf8'))).toMatchObject({ token: 'borg_run_x' });
  });

  it('refuses to start on an unreadable identity rather than inventing a new machine', async () => {
    await loadIdentity(dir);
    await writeFile(join(dir, 'identity.json'), '{"device_id":');
    await expect(loadIdentity(dir)).rejects.toThrow(/cannot read/);
  });
});
