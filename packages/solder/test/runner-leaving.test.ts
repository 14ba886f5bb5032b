import { afterEach, describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { eventually, type SolderProcess, spawnSolder, startSolder } from '../../../test/test-solder.ts';

/** A solder that stops cleanly says so: its runner is offline (stopped) at once, not after three missed heartbeats. */
describe('a solder stopped cleanly', () => {
  // Heartbeats every 60 s: the silence rule cannot be what marks these runners offline.
  const borg = useTestMothership({ config: { heartbeatIntervalSeconds: 60 } });
  let spawned: SolderProcess | undefined;

  afterEach(async () => {
    await spawned?.cleanup();
    spawned = undefined;
  });

  it('(in process) leaves its runner offline, stopped, as soon as stop() resolves', async () => {
    const solder = await startSolder(borg());
    expect((await borg().admin.getRunner(solder.agent.id)).status).toBe('online');
    await solder.stop();
    expect(await borg().admin.getRunner(solder.agent.id)).toMatchObject({
      status: 'offline',
      offline_reason: 'stopped',
    });
  });

  it('(borg solder, SIGTERM) exits 0 with its runner offline, stopped', async () => {
    spawned = await spawnSolder(borg());
    const ready = await eventually(() => /runner (\S+) ready/.exec(spawned!.output())?.[1], 20_000, 'a ready solder');
    spawned.child.kill('SIGTERM');
    expect(await spawned.exited).toBe(0);
    expect(await borg().admin.getRunner(ready)).toMatchObject({ status: 'offline', offline_reason: 'stopped' });
  }, 40_000);
});
