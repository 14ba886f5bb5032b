import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { assertTransportIsSafe, loadSolderConfig, SOLDER_ENV_VARS, SolderConfig } from '../src/config.ts';

describe('solder configuration', () => {
  it('layers the config file, then the environment, then flags', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'borg-solder-config-'));
    const file = join(dir, 'solder.json');
    await writeFile(
      file,
      JSON.stringify({
        mothership: 'http://127.0.0.1:1',
        name: 'from-file',
        labels: { zone: 'a' },
        maxConcurrentTasks: 3,
      }),
    );
    const config = await loadSolderConfig(
      { name: 'from-flag' },
      { BORG_MAX_CONCURRENT_TASKS: '5', BORG_LABELS: 'zone=b,gpu=a100' },
      file,
    );
    expect(config).toMatchObject({ name: 'from-flag', maxConcurrentTasks: 5, labels: { zone: 'b', gpu: 'a100' } });
    expect(config.mothership).toBe('http://127.0.0.1:1');
  });

  it('reads durations and booleans the way people type them', async () => {
    const config = await loadSolderConfig(
      { mothership: 'http://127.0.0.1:1', cancelGracePeriod: '2m', idleExit: '90s', once: 'true' },
      {},
      undefined,
    );
    expect(config).toMatchObject({ cancelGracePeriod: 120, idleExit: 90, once: true });
  });

  it('reads the cache size as a size, in bytes in the file, 10 GiB by default', async () => {
    const base = { mothership: 'http://127.0.0.1:1' };
    expect((await loadSolderConfig(base, {}, undefined)).cacheSize).toBe(10 * 1024 ** 3);
    expect((await loadSolderConfig({ ...base, cacheSize: '512MiB' }, {}, undefined)).cacheSize).toBe(512 * 1024 ** 2);
    expect((await loadSolderConfig(base, { BORG_CACHE_SIZE: '2GB' }, undefined)).cacheSize).toBe(2e9);
    const dir = await mkdtemp(join(tmpdir(), 'borg-solder-config-'));
    await writeFile(join(dir, 'solder.json'), JSON.stringify({ ...base, cacheSize: 1_000_000 }));
    expect((await loadSolderConfig({}, {}, join(dir, 'solder.json'))).cacheSize).toBe(1_000_000);
    await expect(loadSolderConfig({ ...base, cacheSize: 'lots' }, {}, undefined)).rejects.toThrow(
      /BORG_CACHE_SIZE \(--cache-size\): a size like 10GiB/,
    );
  });

  it('names the variable and the flag of a bad setting, and refuses unknown file keys', async () => {
    await expect(loadSolderConfig({}, {}, undefined)).rejects.toThrow(/BORG_MOTHERSHIP_ADDR \(--mothership\)/);
    await expect(loadSolderConfig({ mothership: 'http://x', labels: 'novalue' }, {}, undefined)).rejects.toThrow(
      /BORG_LABELS/,
    );
    const dir = await mkdtemp(join(tmpdir(), 'borg-solder-config-'));
    await writeFile(join(dir, 'bad.json'), JSON.stringify({ mothership: 'http://x', colour: 'red' }));
    await expect(loadSolderConfig({}, {}, join(dir, 'bad.json'))).rejects.toThrow(/unknown key\(s\).*colour/);
  });

  it('refuses to send tokens in clear text to another host unless told to (A14)', async () => {
    const remote = await loadSolderConfig({ mothership: 'http://10.0.0.5:8080' }, {}, undefined);
    expect(() => assertTransportIsSafe(remote)).toThrow(/clear text/);
    expect(() => assertTransportIsSafe({ ...remote, insecure: true })).not.toThrow();
    expect(() => assertTransportIsSafe({ ...remote, mothership: 'https://10.0.0.5' })).not.toThrow();
    expect(() => assertTransportIsSafe({ ...remote, mothership: 'http://127.0.0.1:8080' })).not.toThrow();
    // A name that only starts like a loopback address is another machine.
    expect(() => assertTransportIsSafe({ ...remote, mothership: 'http://127.0.0.1.evil.com' })).toThrow(/clear text/);
    expect(() => assertTransportIsSafe({ ...remote, mothership: 'http://localhost.evil.com' })).toThrow(/clear text/);
  });

  it('is documented: docs/solder.md names every variable and config key', async () => {
    const doc = await readFile(new URL('../../../docs/solder.md', import.meta.url), 'utf8');
    for (const key of Object.keys(SolderConfig.shape) as (keyof typeof SOLDER_ENV_VARS)[]) {
      expect(doc).toContain(`\`${SOLDER_ENV_VARS[key]}\``);
      expect(doc).toContain(`\`${key}\``);
    }
  });
});
