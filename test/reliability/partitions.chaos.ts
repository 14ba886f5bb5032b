import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import type { JobWithTasks, Task } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { eventually } from '../test-solder.ts';
import { killGroup, sleep, SolderProcess } from './harness/borg-processes.ts';
import { useChaosMothership } from './harness/chaos-fixture.ts';
import { TcpProxy } from './harness/tcp-proxy.ts';

/**
 * F4, F5 and F21: a solder cut off from the mothership by a TCP proxy that stops passing
 * anything (a partition: nothing refused, clients see only their own timeouts), shorter and
 * longer than the offline window, and a solder frozen with SIGSTOP past it. Heartbeats every
 * 2 s, so a runner is offline after 6 s of silence.
 *
 * Borg fences on the server (the heartbeat's abandon list, 409 on every write keep everything a
 * solder sends about a lost attempt out of the record), and the solder fences on its own clock: out
 * of touch for the offline window, it stops its tasks itself (docs/reliability.md, F5;
 * docs/job-lifecycle.md, "Cut off from the mothership"). A frozen solder's clock runs while it is
 * frozen, so on SIGCONT it stops its copy at once, as its first heartbeat's answer says too.
 */
describe('partitions and a frozen solder (F4, F5, F21)', () => {
  const chaos = useChaosMothership('partitions');

  async function solder(label: string, url = chaos.mothership.url): Promise<SolderProcess> {
    const started = await SolderProcess.start({
      mothershipUrl: url,
      registrationToken: chaos.mothership.registrationToken,
      labels: { case: label },
    });
    chaos.onCleanup(() => started.cleanup());
    return started;
  }

  async function proxy(): Promise<TcpProxy> {
    const started = new TcpProxy(chaos.mothership.port);
    await started.start();
    chaos.onCleanup(() => started.stop());
    return started;
  }

  function attempt(jobId: string, n: number, status: Task['status'], timeoutMs = 30_000): Promise<Task> {
    return eventually(
      async () =>
        (await chaos.mothership.admin.getJob(jobId)).tasks.find((t) => t.attempt === n && t.status === status),
      timeoutMs,
      `attempt ${n} of ${jobId} to be ${status}`,
    );
  }

  function finished(jobId: string, timeoutMs = 60_000): Promise<JobWithTasks> {
    return eventually(
      async () => {
        const job = await chaos.mothership.admin.getJob(jobId);
        return job.completed_at ? job : undefined;
      },
      timeoutMs,
      `job ${jobId} to finish`,
    );
  }

  function pidIn(file: string): Promise<number> {
    return eventually(() => existsSync(file) && Number(readFileSync(file, 'utf8')), 30_000, file);
  }

  it('partitioned for less than the window: nothing is reclaimed, the task succeeds, its log is whole and once (F4)', async () => {
    const net = await proxy();
    await solder('f4', net.url);
    const LINES = 80;
    const job = await chaos.mothership.admin.createJob({
      name: 'f4',
      type: 'shell',
      command: `i=1; while [ $i -le ${LINES} ]; do echo "line $i"; i=$((i+1)); sleep 0.1; done`,
      labels: { case: 'f4' },
      max_attempts: 2,
    });
    const running = await attempt(job.id, 1, 'running');
    await eventually(
      async () => (await chaos.mothership.admin.getTaskLogs(running.id)).items.length >= 10,
      20_000,
      'the task to stream its first lines',
    );
    net.blackhole();
    await sleep(2_500); // the partition: shorter than the 6 s window
    net.heal();

    const done = await finished(job.id);
    expect(done.tasks.map((t) => [t.attempt, t.status])).toEqual([[1, 'succeeded']]);
    const log = (await chaos.mothership.admin.getTaskLogs(running.id, { limit: 1000 })).items.map((l) => l.message);
    expect(log).toEqual(Array.from({ length: LINES }, (_, i) => `line ${i + 1}`));
    expect((await chaos.mothership.admin.getRunner(running.runner_id!)).status).not.toBe('offline');
  });

  it('partitioned for longer than the window: attempt 1 is lost, attempt 2 runs elsewhere, and the healed solder kills its copy (F5)', async () => {
    const net = await proxy();
    await solder('f5', net.url);
    const pidFile = join(chaos.scratch, 'f5.pid');
    const job = await chaos.mothership.admin.createJob({
      name: 'f5',
      type: 'shell',
      command: `if [ "$BORG_ATTEMPT" = 1 ]; then echo $$ > ${pidFile}; echo first; exec sleep 600; fi; echo second`,
      labels: { case: 'f5' },
      max_attempts: 2,
    });
    const first = await attempt(job.id, 1, 'running');
    const pid = await pidIn(pidFile);
    chaos.onCleanup(async () => killGroup(pid));
    await eventually(
      async () => (await chaos.mothership.admin.getTaskLogs(first.id)).items.length === 1,
      20_000,
      'the first line to be stored',
    );

    net.blackhole();
    const lost = await attempt(job.id, 1, 'lost', 30_000);
    expect(lost.reason).toBe('runner_lost');
    await solder('f5'); // another machine, reaching the mothership directly
    const done = await finished(job.id);
    expect(done.status).toBe('succeeded');
    expect(done.tasks[1]!.runner_id).not.toBe(first.runner_id);
    const settled = await chaos.mothership.admin.getJob(job.id);

    // The old copy was stopped by its own solder when the window ran out, before attempt 2 ran.
    await eventually(() => !isAlive(pid), 30_000, 'the partitioned copy to be stopped');
    net.heal();
    // Nothing signals that the solder is done with the killed copy: a report of it would come
    // within a heartbeat interval (2 s), and none may.
    await sleep(2_000);
    expect(await chaos.mothership.admin.getJob(job.id)).toEqual(settled);
    const log = (await chaos.mothership.admin.getTaskLogs(first.id)).items.map((l) => l.message);
    expect(log).toEqual(['first']);
    await eventually(
      async () => (await chaos.mothership.admin.getRunner(first.runner_id!)).status === 'online',
      20_000,
      'the healed runner to be back online',
    );
  });

  it('frozen (SIGSTOP) past the window, then resumed: reclaimed, and its copy killed on its first heartbeat (F21)', async () => {
    const frozen = await solder('f21');
    const pidFile = join(chaos.scratch, 'f21.pid');
    const job = await chaos.mothership.admin.createJob({
      name: 'f21',
      type: 'shell',
      command: `if [ "$BORG_ATTEMPT" = 1 ]; then echo $$ > ${pidFile}; exec sleep 600; fi; echo second`,
      labels: { case: 'f21' },
      max_attempts: 2,
    });
    const first = await attempt(job.id, 1, 'running');
    const pid = await pidIn(pidFile);
    chaos.onCleanup(async () => killGroup(pid));

    frozen.freeze();
    await attempt(job.id, 1, 'lost', 30_000);
    await solder('f21');
    await finished(job.id);
    const settled = await chaos.mothership.admin.getJob(job.id);
    frozen.thaw();

    const thawed = performance.now();
    await eventually(() => !isAlive(pid), 15_000, 'the frozen copy to be killed');
    // Its first heartbeat is at most one interval (2 s) away, and the kill is immediate.
    expect(performance.now() - thawed).toBeLessThan(5_000);
    // As in F5: a report of the killed copy would come within a heartbeat interval; none may.
    await sleep(2_000);
    expect(await chaos.mothership.admin.getJob(job.id)).toEqual(settled);
    expect(frozen.alive).toBe(true);
    expect((await chaos.mothership.admin.getTaskLogs(first.id)).items).toEqual([]);
  });
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
