import { describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { registerRunner } from './register-runner.ts';

describe("a runner's last heartbeat", () => {
  const borg = useTestMothership();

  it("status 'stopping' shows the runner offline (stopped) at once", async () => {
    const runner = await registerRunner(borg(), 'leaving');
    expect((await borg().admin.getRunner(runner.id)).offline_reason).toBeNull();
    await runner.client.heartbeat(runner.id, { status: 'stopping', active_tasks: 0, task_ids: [] });
    expect(await borg().admin.getRunner(runner.id)).toMatchObject({ status: 'offline', offline_reason: 'stopped' });
  });

  it('a stopped runner claims nothing, and is online again when it comes back', async () => {
    const runner = await registerRunner(borg(), 'returning');
    await runner.client.heartbeat(runner.id, { status: 'stopping' });
    await borg().admin.createJob({ name: 'waiting', type: 'shell', command: 'true' });
    expect(await runner.client.nextTasks(runner.id, { wait: 0, max: 1 })).toBeNull();
    await runner.client.heartbeat(runner.id, { status: 'online' });
    expect(await borg().admin.getRunner(runner.id)).toMatchObject({ status: 'online', offline_reason: null });
  });
});
