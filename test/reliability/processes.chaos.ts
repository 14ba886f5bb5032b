import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';

import type { JobWithTasks, Task } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { eventually } from '../test-solder.ts';
import { sleep, SolderProcess } from './harness/borg-processes.ts';
import { useChaosMothership } from './harness/chaos-fixture.ts';
import { tmpFiles } from './harness/invariants.ts';
import { TcpProxy } from './harness/tcp-proxy.ts';

/**
 * Real processes killed at awkward moments (F1, F2, F9, F24). Heartbeats every 2 s: a silent
 * runner is offline after 6 s. Uploads go through a TCP proxy capped at 2 MB/s, so a 16 MB
 * artifact is mid-flight for seconds and a kill lands in the middle of it.
 */
describe('solders and the mothership killed at awkward moments (F1, F2, F9, F24)', () => {
  const chaos = useChaosMothership('processes');

  async function solder(
    label: string,
    options: { url?: string; stateDir?: string; args?: string[] } = {},
  ): Promise<SolderProcess> {
    const started = await SolderProcess.start({
      mothershipUrl: options.url ?? chaos.mothership.url,
      registrationToken: chaos.mothership.registrationToken,
      labels: { case: label },
      stateDir: options.stateDir,
      args: options.args,
    });
    chaos.onCleanup(() => started.cleanup());
    return started;
  }

  async function slowLink(): Promise<TcpProxy> {
    const proxy = new TcpProxy(chaos.mothership.port);
    await proxy.start();
    proxy.limitRate(2 * 1024 * 1024);
    chaos.onCleanup(() => proxy.stop());
    return proxy;
  }

  function attempt(jobId: string, n: number, status: Task['status'], timeoutMs = 30_000): Promise<Task> {
    return eventually(
      async () =>
        (await chaos.mothership.admin.getJob(jobId).catch(() => undefined))?.tasks.find(
          (t) => t.attempt === n && t.status === status,
        ),
      timeoutMs,
      `attempt ${n} of ${jobId} to be ${status}`,
    );
  }

  function finished(jobId: string, timeoutMs = 90_000): Promise<JobWithTasks> {
    return eventually(
      async () => {
        const job = await chaos.mothership.admin.getJob(jobId).catch(() => undefined);
        return job?.completed_at ? job : undefined;
      },
      timeoutMs,
      `job ${jobId} to finish`,
    );
  }

  const uploading = () =>
    eventually(
      async () => (await tmpFiles(chaos.mothership.storageDir)).length > 0,
      60_000,
      'an upload to be in flight',
    );

  it('a solder SIGKILLed mid-task: nothing reclaimed before the window, then lost and retried on another solder (F1)', async () => {
    const first = await solder('f1');
    const job = await chaos.mothership.admin.createJob({
      name: 'f1',
      type: 'shell',
      command: 'if [ "$BORG_ATTEMPT" = 1 ]; then exec sleep 600; fi; echo again',
      labels: { case: 'f1' },
      max_attempts: 2,
    });
    const running = await attempt(job.id, 1, 'running');
    await first.kill('SIGKILL');
    const killedAt = performance.now();
    await sleep(3_000);
    expect((await chaos.mothership.admin.getJob(job.id)).tasks.map((t) => t.status)).toEqual(['running']);
    const lost = await attempt(job.id, 1, 'lost');
    expect(performance.now() - killedAt).toBeGreaterThan(4_000); // the window is 6 s after the last heartbeat
    expect(lost).toMatchObject({ id: running.id, reason: 'runner_lost' });
    await solder('f1');
    const done = await finished(job.id);
    expect(done.tasks.map((t) => [t.attempt, t.status])).toEqual([
      [1, 'lost'],
      [2, 'succeeded'],
    ]);
  });

  it('a solder SIGKILLed mid-upload: no row and no file kept for attempt 1, its log kept; attempt 2 stores its own (F2)', async () => {
    const link = await slowLink();
    const stateDir = join(chaos.scratch, 'f2-solder');
    const first = await solder('f2', { url: link.url, stateDir });
    const job = await chaos.mothership.admin.createJob({
      name: 'f2',
      type: 'shell',
      command: 'echo "attempt $BORG_ATTEMPT"; head -c 16000000 /dev/urandom > out.bin',
      labels: { case: 'f2' },
      artifacts: ['out.bin'],
      max_attempts: 2,
    });
    await uploading();
    await first.kill('SIGKILL');
    await eventually(
      async () => (await tmpFiles(chaos.mothership.storageDir)).length === 0,
      20_000,
      'the tmp file to go',
    );

    // The same machine's solder comes back: attempt 1 ends (runner_restarted), attempt 2 runs.
    link.limitRate(0);
    await solder('f2', { url: link.url, stateDir });
    const done = await finished(job.id);
    expect(done.tasks.map((t) => [t.attempt, t.status, t.reason])).toEqual([
      [1, 'lost', 'runner_restarted'],
      [2, 'succeeded', null],
    ]);
    expect((await chaos.mothership.admin.listArtifacts(done.tasks[0]!.id)).items).toEqual([]);
    const [artifact] = (await chaos.mothership.admin.listArtifacts(done.tasks[1]!.id)).items;
    expect(artifact).toMatchObject({ path: 'out.bin', size: 16_000_000 });
    const log1 = (await chaos.mothership.admin.getTaskLogs(done.tasks[0]!.id)).items.map((l) => l.message);
    expect(log1[0]).toBe('attempt 1');
  });

  it('the mothership SIGKILLed mid-upload: the solder sends it again whole after the restart, and the task succeeds with it (F9)', async () => {
    const link = await slowLink();
    await solder('f9', { url: link.url });
    const job = await chaos.mothership.admin.createJob({
      name: 'f9',
      type: 'shell',
      command: 'head -c 16000000 /dev/urandom > out.bin; sha256sum out.bin | cut -d" " -f1',
      labels: { case: 'f9' },
      artifacts: ['out.bin'],
    });
    await uploading();
    const tmpBefore = await tmpFiles(chaos.mothership.storageDir);
    await chaos.mothership.kill('SIGKILL');
    link.limitRate(0);
    await sleep(2_000);
    await chaos.mothership.boot();

    const done = await finished(job.id);
    expect(done.tasks.map((t) => [t.attempt, t.status])).toEqual([[1, 'succeeded']]);
    const [artifact] = (await chaos.mothership.admin.listArtifacts(done.tasks[0]!.id)).items;
    const printed = (await chaos.mothership.admin.getTaskLogs(done.tasks[0]!.id)).items.map((l) => l.message);
    expect(printed).toContain(artifact!.sha256); // the bytes stored are the bytes the task wrote
    const blob = join(chaos.mothership.storageDir, 'blobs', artifact!.file_id.slice(0, 2), artifact!.file_id);
    expect(await sha256Of(blob)).toBe(artifact!.sha256);
    // The killed upload left its tmp file (a replica sharing the directory could be writing it);
    // a later start removes tmp files once they are 15 minutes old.
    expect(await tmpFiles(chaos.mothership.storageDir)).toEqual(tmpBefore);
  });

  it('a poison task that kills its solder every time: attempts stop at max_attempts, the job fails, the runner works on (F24)', async () => {
    const stateDir = join(chaos.scratch, 'f24-solder');
    // Only a task running as its solder's own user can kill it: a root solder runs tasks as
    // another user (task-user.ts) unless told --run-as root, as this one is.
    const sameUser = process.getuid?.() === 0 ? ['--run-as', 'root'] : [];
    // A supervisor (systemd, say) restarts the solder whenever it dies.
    let current = await solder('f24', { stateDir, args: sameUser });
    let restarts = 0;
    let supervising = true;
    const supervisor = (async () => {
      while (supervising) {
        await current.exited;
        if (!supervising) return;
        restarts++;
        current = await solder('f24', { stateDir, args: sameUser });
      }
    })();
    chaos.onCleanup(async () => {
      supervising = false;
      await current.kill('SIGKILL');
      await supervisor;
    });

    const poison = await chaos.mothership.admin.createJob({
      name: 'poison',
      type: 'shell',
      command: 'kill -9 $PPID; sleep 5',
      labels: { case: 'f24' },
      max_attempts: 3,
    });
    const done = await finished(poison.id);
    expect(done.status).toBe('failed');
    expect(done.tasks.map((t) => [t.attempt, t.status])).toEqual([
      [1, 'lost'],
      [2, 'lost'],
      [3, 'lost'],
    ]);
    expect(restarts).toBeGreaterThanOrEqual(3);

    const healthy = await chaos.mothership.admin.createJob({
      name: 'after-poison',
      type: 'shell',
      command: 'echo fine',
      labels: { case: 'f24' },
    });
    expect((await finished(healthy.id)).status).toBe('succeeded');
  });
});

function sha256Of(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', reject);
  });
}
