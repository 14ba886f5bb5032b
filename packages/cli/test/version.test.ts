import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';

import { BORG_VERSION } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { borg, CLI_TEST_TIMEOUT_MS, closedAddress, useTempDir } from './borg-cli.ts';

describe('borg --version', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  const mothership = useTestMothership();
  const dir = useTempDir();

  it('prints the CLI version alone when no mothership is configured', async () => {
    const result = await borg(['--version'], { env: { BORG_CONFIG: join(dir(), 'none.json') } });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`borg ${BORG_VERSION}\n`);
  });

  it("adds the mothership's version, from BORG_ADDR or the profile in use", async () => {
    const config = join(dir(), 'config.json');
    const profiles = { default: { addr: 'http://127.0.0.1:1' }, main: { addr: mothership().url } };
    await writeFile(config, JSON.stringify({ current_profile: 'main', profiles }));
    const [viaEnv, viaProfile] = await Promise.all([
      borg(['-V'], { env: { BORG_ADDR: mothership().url, BORG_CONFIG: join(dir(), 'none.json') } }),
      borg(['--version'], { env: { BORG_CONFIG: config } }),
    ]);
    const expected = `borg ${BORG_VERSION}\nmothership ${BORG_VERSION} at ${mothership().url}\n`;
    expect(viaEnv.stdout).toBe(expected);
    expect(viaProfile.stdout).toBe(expected);
  });

  it('never fails when the mothership cannot be reached, and never waits long for it', async () => {
    const closed = await closedAddress();
    const silent = createServer(() => {}).listen(0, '127.0.0.1'); // accepts, never answers
    await new Promise((resolve) => silent.once('listening', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const started = Date.now();
      const [refused, hung] = await Promise.all([
        borg(['--version'], { env: { BORG_ADDR: closed } }),
        borg(['--version'], { env: { BORG_ADDR: `http://127.0.0.1:${port}` } }),
      ]);
      expect(refused.code).toBe(0);
      expect(refused.stdout).toBe(`borg ${BORG_VERSION}\nmothership at ${closed}: not reachable\n`);
      expect(hung.code).toBe(0);
      expect(hung.stdout).toBe(`borg ${BORG_VERSION}\nmothership at http://127.0.0.1:${port}: no answer within 1 s\n`);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      silent.close();
    }
  });
});
