import { readFile } from 'node:fs/promises';

import { describe, expect, it } from 'vitest';

import { ENV_VARS, loadConfig, MothershipConfig } from '../src/config.ts';

describe('configuration', () => {
  it('has a default for every setting that needs one', () => {
    const config = loadConfig({}, {});
    expect(config).toMatchObject({
      host: '0.0.0.0',
      port: 8080,
      dataDir: './borg-data',
      heartbeatIntervalSeconds: 30,
      logLevel: 'info',
    });
    expect(config.databaseUrl).toBeUndefined();
  });

  it('reads the environment, and flags win over it', () => {
    const env = { BORG_PORT: '9000', BORG_HEARTBEAT_INTERVAL_SECONDS: '5', DATABASE_URL: 'postgres://x@y/z' };
    expect(loadConfig({}, env)).toMatchObject({
      port: 9000,
      heartbeatIntervalSeconds: 5,
      databaseUrl: 'postgres://x@y/z',
    });
    expect(loadConfig({ port: '9100' }, env).port).toBe(9100);
  });

  it('names the variable in the error for a bad value', () => {
    expect(() => loadConfig({}, { BORG_PORT: 'eighty' })).toThrow(/BORG_PORT/);
    expect(() => loadConfig({}, { BORG_HEARTBEAT_INTERVAL_SECONDS: '0' })).toThrow(/BORG_HEARTBEAT_INTERVAL_SECONDS/);
  });

  it('refuses tokens from the environment shorter than 32 characters, naming the variable and how to make one', () => {
    for (const name of ['BORG_ADMIN_TOKEN', 'BORG_REGISTRATION_TOKEN']) {
      const short = () => loadConfig({}, { [name]: 'a'.repeat(31) });
      expect(short).toThrow(new RegExp(`${name}: must be at least 32 characters`));
      expect(short).toThrow(/openssl rand -hex 32/);
      expect(() => loadConfig({}, { [name]: 'a'.repeat(32) })).not.toThrow();
    }
  });

  it('is documented: docs/configuration.md names every variable', async () => {
    const doc = await readFile(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
    for (const key of Object.keys(MothershipConfig.shape)) {
      expect(doc, `docs/configuration.md should document ${ENV_VARS[key as keyof typeof ENV_VARS]}`).toContain(
        `\`${ENV_VARS[key as keyof typeof ENV_VARS]}\``,
      );
    }
  });
});
