import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { CreateJobRequest, JobWithTasks, Task } from '@borg/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { killGroup } from '../../../test/reliability/harness/borg-processes.ts';
import { TcpProxy } from '../../../test/reliability/harness/tcp-proxy.ts';
import { useTestMothership } from '../../../test/test-mothership.ts';
import { eventually, type InProcessSolder, startSolder } from '../../../test/test-solder.ts';

/**
 * A solder cut off from the mothership (a TCP proxy that stops passing anything) and the job's
 * on_disconnect (docs/job-lifecycle.md, "Cut off from the mothership"). Heartbeats every 2 s:
 * the mothership calls a runner offline after 6 s of silence, and the solder learns that window
 * from its registration. The namespaced version with three hosts is test/netns/.
 */
describe('a solder cut off from the mothership', () => {
  const borg = useTestMothership({ config: { heartbeatIntervalSeconds: 2 }, maintenance: true });
  let scratch: string;
  let cleanups: Array<() => Promise<unknown>>;

  beforeEach(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'borg-disconnect-'));
    await chmod(scratch, 0o777);
    cleanups = [];
  });
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await rm(scratch, { recursive: true, force: true });
  });

  async function solder(label: string, url = borg().url): Promise<InProcessSolder> {
    const started = await startSolder(
      { url, registrationToken: borg().registrationToken },
      { labels: { case: label } },
    );
    cleanups.push(() => started.stop({ cancelRunning: true }));
    return started;
  }

  async function proxy(): Promise<TcpProxy> {
    const started = new TcpProxy(Number(new URL(borg().url).port));
    await started.start();
    cleanups.push(async () => {
      started.heal();
      await started.stop();
    });
    return started;
  }

  const submit = (label: string, job: Partial<CreateJobRequest>) =>
    borg().admin.createJob({ name: label, type: 'shell', command: 'true', labels: { case: label }, ...job });

  function attempt(jobId: string, n: number, status: Task['status'], timeoutMs = 20_000): Promise<Task> {
    return eventually(
      async () => (await borg().admin.getJob(jobId)).tasks.find((t) => t.attempt === n && t.status === status),
      timeoutMs,
      `attempt ${n} to be ${status}`,
    );
  }

  const finished = (jobId: string): Promise<JobWithTasks> =>
    eventually(async () => {
      const job = await borg().admin.getJob(jobId);
      return job.completed_at ? job : undefined;
    }, 30_000);

  const pidIn = (file: string) => eventually(() => existsSync(file) && Number(readFileSync(file, 'utf8')), 20_000);

  /** The command of a task that records its pid in `file` on attempt 1 and sleeps, and ends at once after. */
  const sleeper = (file: string) =>
    `if [ "$BORG_ATTEMPT" = 1 ]; then echo $$ > ${file}; exec sleep 120; fi; echo "attempt $BORG_ATTEMPT"`;

  it('by default stops its task once out of touch for the offline window, before the mothership runs it elsewhere', async () => {
    const net = await proxy();
    await solder('default', net.url);
    const pidFile = join(scratch, 'default.pid');
    const job = await submit('default', { command: sleeper(pidFile), retry: { max_attempts: 1 } });
    const first = await attempt(job.id, 1, 'running');
    const pid = await pidIn(pidFile);

    net.blackhole();
    const killed = await eventually(() => !isAlive(pid) && Date.now(), 20_000, 'the cut-off copy to be stopped');
    const lost = await attempt(job.id, 1, 'lost');
    // The copy was stopped no later than the mothership took the attempt back (database clock ≈ ours here).
    expect(killed).toBeLessThanOrEqual(Date.parse(lost.completed_at!) + 500);
    expect(lost.retry_decision).toMatchObject({ retried: true, rule: 'on_lost', counted: false });

    await solder('default'); // another machine, in touch
    const done = await finished(job.id);
    expect(done.status).toBe('succeeded');
    expect(done.tasks.map((t) => [t.attempt, t.status])).toEqual([
      [1, 'lost'],
      [2, 'succeeded'],
    ]);
    const settled = await borg().admin.getJob(job.id);

    // Back in touch, the cut-off solder's report of its stopped copy is refused and changes nothing.
    net.heal();
    await eventually(
      async () => (await borg().admin.getRunner(first.runner_id!)).status !== 'offline',
      20_000,
      'the cut-off runner to be back',
    );
    expect(await borg().admin.getJob(job.id)).toEqual(settled);
  }, 60_000);

  it('stop_after shorter than the window (4 s, two intervals): the copy is stopped, reported when back, and retried without counting', async () => {
    const net = await proxy();
    await solder('stop-after', net.url);
    const pidFile = join(scratch, 'stop-after.pid');
    const job = await submit('stop-after', {
      command: sleeper(pidFile),
      retry: { max_attempts: 1 },
      on_disconnect: { stop_after: '4s' },
    });
    await attempt(job.id, 1, 'running');
    const pid = await pidIn(pidFile);

    net.blackhole();
    await eventually(() => !isAlive(pid), 10_000, 'the copy to be stopped after 4 s');
    net.heal(); // well inside the 6 s window: the mothership never took the attempt back
    const stopped = await attempt(job.id, 1, 'cancelled');
    expect(stopped.reason).toBe('disconnected');
    expect(stopped.error).toMatch(/without reaching the mothership/);
    expect(stopped.retry_decision).toMatchObject({ retried: true, rule: 'on_lost', counted: false });
    const done = await finished(job.id);
    expect(done.status).toBe('succeeded');
    expect(done.tasks.map((t) => [t.attempt, t.status])).toEqual([
      [1, 'cancelled'],
      [2, 'succeeded'],
    ]);
  }, 60_000);

  it('keep: the copy that succeeds first while cut off is taken over when back, and the copy elsewhere is stopped', async () => {
    const net = await proxy();
    await solder('keep-first', net.url);
    const otherPid = join(scratch, 'other.pid');
    const job = await submit('keep-first', {
      command: `if [ "$BORG_ATTEMPT" = 1 ]; then echo before; sleep 12; echo after; else echo $$ > ${otherPid}; exec sleep 120; fi`,
      retry: { max_attempts: 1 },
      on_disconnect: { keep: true },
    });
    const first = await attempt(job.id, 1, 'running');
    await eventually(async () => (await borg().admin.getTaskLogs(first.id)).items.length === 1, 20_000, 'before');

    net.blackhole();
    await attempt(job.id, 1, 'lost');
    await solder('keep-first'); // another machine, in touch: it runs attempt 2
    await attempt(job.id, 2, 'running');
    const other = await pidIn(otherPid);
    cleanups.push(async () => killGroup(other));
    net.heal(); // the copy finishes at 12 s, before attempt 2 could

    const done = await finished(job.id);
    expect(done.status).toBe('succeeded');
    expect(done.tasks.map((t) => [t.attempt, t.status, t.reason, t.runner_id === first.runner_id])).toEqual([
      [1, 'lost', 'runner_lost', true],
      [2, 'cancelled', 'superseded', false],
      [3, 'succeeded', null, true],
    ]);
    await eventually(() => !isAlive(other), 10_000, 'the superseded copy to be stopped');
    const log = (await borg().admin.getTaskLogs(done.tasks[2]!.id)).items.map((l) => l.message);
    // The copy's lines held since the cut, then Borg's note of what this attempt is.
    expect(log).toEqual([
      'after',
      expect.stringMatching(
        /^borg: attempt 3 is attempt 1 \(task .*\), which ran on here while this runner was cut off/,
      ),
    ]);
    expect((await borg().admin.getTaskLogs(first.id)).items.map((l) => l.message)).toEqual(['before']);
  }, 90_000);

  it('keep: the copy runs on past the window while the mothership runs the element elsewhere', async () => {
    const net = await proxy();
    await solder('keep', net.url);
    const pidFile = join(scratch, 'keep.pid');
    const job = await submit('keep', {
      command: sleeper(pidFile),
      retry: { max_attempts: 1 },
      on_disconnect: { keep: true },
    });
    await attempt(job.id, 1, 'running');
    const pid = await pidIn(pidFile);
    cleanups.push(async () => killGroup(pid));

    net.blackhole();
    await attempt(job.id, 1, 'lost');
    await attempt(job.id, 2, 'pending');
    expect(isAlive(pid)).toBe(true);
    net.heal();
  }, 60_000);
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
