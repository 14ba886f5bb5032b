import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { Agent } from '../src/agent.ts';
import { loadSolderConfig } from '../src/config.ts';

/**
 * A registered machine keeps its runner when the registration token it was given changes: it
 * registers again with its own runner token, which the mothership accepts from the device it
 * belongs to (issue 14), and falls back to the registration token only when that token is gone.
 */
describe('a solder starting again on a registered machine', () => {
  const borg = useTestMothership();
  const dirs: string[] = [];
  afterAll(() => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));

  async function startAgent(stateDir: string, registrationToken: string): Promise<Agent> {
    const config = await loadSolderConfig(
      { mothership: borg().url, registrationToken, stateDir, workDir: join(stateDir, 'work'), longPollSeconds: 1 },
      {},
    );
    const agent = new Agent(config, { log: () => undefined });
    await agent.start();
    return agent;
  }

  it('stays the same runner under a registration token that did not register it', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'borg-reregister-'));
    dirs.push(stateDir);
    const first = await borg().admin.createToken({ name: 'first pool token', kind: 'registration' });
    const agent = await startAgent(stateDir, first.token);
    const runnerId = agent.id;
    await agent.stop();

    // The admin rotates: a new token, the old one revoked. The machine restarts with the new one.
    const second = await borg().admin.createToken({ name: 'second pool token', kind: 'registration' });
    await borg().admin.revokeToken(first.id);
    const restarted = await startAgent(stateDir, second.token);
    expect(restarted.id).toBe(runnerId);
    await restarted.stop();

    // Its runner deleted, the saved token is refused (401); the new token cannot bring the device back.
    await borg().admin.deleteRunner(runnerId);
    await expect(startAgent(stateDir, second.token)).rejects.toThrow(/registration refused: .*was deleted/);
  });
});
