import { chmod, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { ENGINE } from '../../../test/test-database.ts';
import { useTestMothership } from '../../../test/test-mothership.ts';
import { secretKeyFileOf, storageDirOf } from '../src/config.ts';
import { ensurePrivateDir, ensurePrivateFile, type PathWarnings } from '../src/files/private-paths.ts';

const modeOf = async (path: string) => (await stat(path)).mode & 0o777;

function recorder(): PathWarnings & { seen: Array<{ path: string; mode: string }> } {
  const seen: Array<{ path: string; mode: string }> = [];
  return { seen, warn: (details) => seen.push({ path: details.path, mode: details.mode }) };
}

describe('private paths: directories 0700, files 0600', () => {
  const root = mkdtemp(join(tmpdir(), 'borg-private-'));
  afterAll(async () => rm(await root, { recursive: true, force: true }));

  it('creates a directory and its missing parents as 0700, without a warning', async () => {
    const warnings = recorder();
    const dir = join(await root, 'new', 'nested');
    await ensurePrivateDir(dir, warnings);
    expect(await modeOf(dir)).toBe(0o700);
    expect(await modeOf(join(await root, 'new'))).toBe(0o700);
    expect(warnings.seen).toEqual([]);
  });

  it('tightens an existing directory open to others, and says so', async () => {
    const warnings = recorder();
    const dir = join(await root, 'loose');
    await mkdir(dir);
    await chmod(dir, 0o755);
    await ensurePrivateDir(dir, warnings);
    expect(await modeOf(dir)).toBe(0o700);
    expect(warnings.seen).toEqual([{ path: dir, mode: '0755' }]);
    // Already private: left alone, no warning.
    await ensurePrivateDir(dir, warnings);
    expect(warnings.seen).toHaveLength(1);
  });

  it('tightens an existing file open to others to 0600, and says so', async () => {
    const warnings = recorder();
    const file = join(await root, 'key');
    await writeFile(file, 'x', { mode: 0o644 });
    await chmod(file, 0o644);
    await ensurePrivateFile(file, warnings);
    expect(await modeOf(file)).toBe(0o600);
    expect(warnings.seen).toEqual([{ path: file, mode: '0644' }]);
  });
});

describe('a mothership keeps its data to its own user', () => {
  const borg = useTestMothership();

  it('has its data, database and storage directories at 0700 and the secret key and stored files at 0600', async () => {
    const { config } = borg().services;
    const storage = storageDirOf(config);
    const dirs = [storage, join(storage, 'tmp'), join(storage, 'blobs')];
    // The embedded engine's directory existed before the start (the test copied a database
    // into it, with the umask's mode): it was tightened.
    if (ENGINE === 'pglite') dirs.push(config.dataDir, join(config.dataDir, 'pglite'));
    for (const dir of dirs) expect({ dir, mode: await modeOf(dir) }).toEqual({ dir, mode: 0o700 });
    expect(await modeOf(secretKeyFileOf(config))).toBe(0o600);

    const form = new FormData();
    form.append('file', new Blob(['private bytes']), 'input.txt');
    const uploaded = await fetch(`${borg().url}/api/v1/files`, {
      method: 'POST',
      headers: { authorization: `Bearer ${borg().adminToken}` },
      body: form,
    });
    expect(uploaded.status).toBe(201);
    const [shard] = await readdir(join(storage, 'blobs'));
    const [blob] = await readdir(join(storage, 'blobs', shard!));
    expect(await modeOf(join(storage, 'blobs', shard!))).toBe(0o700);
    expect(await modeOf(join(storage, 'blobs', shard!, blob!))).toBe(0o600);
  });
});
