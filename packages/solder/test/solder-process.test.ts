import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { JobWithTasks, LogLine, Task } from '@borg/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { InvariantChecker } from '../../../test/reliability/harness/invariants.ts';
import { useTestMothership } from '../../../test/test-mothership.ts';
import { type SolderProcess, spawnSolder } from '../../../test/test-solder.ts';

/**
 * Real `borg solder` processes against a real mothership, killed and stopped the ways machines
 * are (reliability plan F1, F3, F8, F10). One mothership serves the file; each case gives its
 * solders and jobs a label of their own, so no solder takes another case's work.
 *
 * Heartbeats every 2 s: a silent runner is offline after 3 missed (6 s), which keeps the SIGKILL
 * case short. The 10 s mothership outage does not get the running task reaped although it is
 * longer than that window, because the reaper waits one full window (6 s) after the mothership
 * starts, and the solder, retrying its heartbeat at most one interval (2 s) apart, checks in
 * well within it.
 */
describe('borg solder processes under kills, signals and a mothership restart', () => {
  const borg = useTestMothership({ config: { heartbeatIntervalSeconds: 2 }, maintenance: true });
  // Every case ends with the reliability invariants I1–I7 over the whole database (F1, F3, F8, F10).
  const invariants = new InvariantChecker(() => borg().db);
  let scratch: string;
  let cleanups: Array<() => Promise<unknown>>;

  beforeEach(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'borg-solder-process-'));
    // Tasks write here; under a root solder they run as another user.
    await chmod(scratch, 0o777);
    cleanups = [];
  });
  afterEach(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    await rm(scratch, { recursive: true, force: true });
    expect(await invariants.check()).toEqual([]);
  });

  async function solder(label: string, extra: string[] = []): Promise<SolderProcess> {
    const spawned = await spawnSolder(borg(), ['--labels', `case=${label}`, '--max-concurrent-tasks', '1', ...extra]);
    cleanups.push(() => spawned.cleanup());
    return spawned;
  }

  async function job(label: string, command: string, maxAttempts = 1): Promise<string> {
    const created = await borg().admin.createJob({
      name: `${label}-job`,
      type: 'shell',
      command,
      labels: { case: label },
      max_attempts: maxAttempts,
    });
    // Whatever a case leaves queued is cancelled, so no later solder picks it up.
    cleanups.push(() => borg().admin.cancelJob(created.id));
    return created.id;
  }

  function task(jobId: string, attempt: number, status: Task['status'], timeout = 30_000): Promise<Task> {
    return vi.waitFor(
      async () => {
        const found = (await borg().admin.getJob(jobId)).tasks.find((t) => t.attempt === attempt);
        expect(found?.status, `attempt ${attempt} of job ${jobId}`).toBe(status);
        return found!;
      },
      { timeout },
    );
  }

  function finished(jobId: string, timeout = 30_000): Promise<JobWithTasks> {
    return vi.waitFor(
      async () => {
        const found = await borg().admin.getJob(jobId);
        expect(found.completed_at, `job ${jobId} to finish`).not.toBeNull();
        return found;
      },
      { timeout },
    );
  }

  /** The pid a task wrote (its shell leads the task's process group); the group is killed at the end. */
  async function taskPid(file: string): Promise<number> {
    const pid = await vi.waitFor(
      () => {
        const written = Number(readFileSync(file, 'utf8'));
        expect(written, `a pid in ${file}`).toBeGreaterThan(0);
        return written;
      },
      { timeout: 30_000 },
    );
    cleanups.push(async () => killGroup(pid));
    return pid;
  }

  async function storedLog(taskId: string): Promise<LogLine[]> {
    const lines: LogLine[] = [];
    for (let after = -1; ;) {
      const page = await borg().admin.getTaskLogs(taskId, { after, limit: 10_000 });
      lines.push(...page.items);
      if (!page.next_cursor) return lines;
      after = Number(page.next_cursor);
    }
  }

  it('a SIGKILLed solder: its runner goes offline, its task is lost, and attempt 2 succeeds on another solder', async () => {
    const first = await solder('sigkill');
    const pidFile = join(scratch, 'attempt-1.pid');
    const jobId = await job(
      'sigkill',
      `if [ "$BORG_ATTEMPT" = 1 ]; then echo $$ > ${pidFile}; exec sleep 600; fi; echo "attempt $BORG_ATTEMPT ran"`,
      2,
    );
    const pid = await taskPid(pidFile);
    const attempt1 = await task(jobId, 1, 'running');

    first.child.kill('SIGKILL');
    await first.exited;
    killGroup(pid); // the task leads its own session and would outlive the solder: F1 kills both
    // Nothing is reclaimed at once: the runner has a window of missed heartbeats first.
    expect((await borg().admin.getJob(jobId)).tasks.map((t) => t.status)).toEqual(['running']);

    const second = await solder('sigkill');
    const done = await finished(jobId);
    expect(done.status).toBe('succeeded');
    expect(done.tasks.map((t) => [t.attempt, t.status, t.reason])).toEqual([
      [1, 'lost', 'runner_lost'],
      [2, 'succeeded', null],
    ]);
    expect((await borg().admin.getRunner(attempt1.runner_id!)).status).toBe('offline');
    expect(done.tasks[1]!.runner_id).not.toBe(attempt1.runner_id);
    const log = await storedLog(done.tasks[1]!.id);
    expect(log.map((l) => l.message)).toEqual(['attempt 2 ran']);
    expect(second.child.exitCode).toBeNull(); // the second solder is still serving
  }, 60_000);

  it('a mothership down for 10 s mid-task: the task succeeds and its log is every line exactly once, in order', async () => {
    await solder('restart');
    const count = 150;
    const jobId = await job(
      'restart',
      `i=1; while [ $i -le ${count} ]; do echo "line $i"; i=$((i+1)); sleep 0.1; done`,
    );
    const running = await task(jobId, 1, 'running');
    await expect.poll(async () => (await storedLog(running.id)).length, { timeout: 20_000 }).toBeGreaterThanOrEqual(10);

    const downFrom = Date.now();
    await borg().restart({ downtimeMs: 10_000 });
    const downTo = Date.now();

    const done = await finished(jobId, 60_000);
    expect(done.status).toBe('succeeded');
    expect(done.tasks.map((t) => [t.attempt, t.status, t.reason])).toEqual([[1, 'succeeded', null]]);
    const log = await storedLog(running.id);
    expect(log.map((l) => `${l.stream} ${l.message}`)).toEqual(
      Array.from({ length: count }, (_, i) => `stdout line ${i + 1}`),
    );
    expect(log.map((l) => l.index)).toEqual(log.map((_, i) => i));
    // The outage was real for the solder: lines it read while the mothership was down were kept
    // (~10 a second for 10 s) and delivered afterwards.
    const whileDown = log.filter((l) => Date.parse(l.timestamp) > downFrom && Date.parse(l.timestamp) < downTo);
    expect(whileDown.length).toBeGreaterThan(30);
    expect((await borg().admin.getRunner(running.runner_id!)).status).not.toBe('offline');
  }, 90_000);

  it('first SIGTERM: finishes the running task, claims nothing new, and exits 0', async () => {
    const borgSolder = await solder('drain');
    const jobId = await job('drain', 'sleep 2; echo finished');
    await task(jobId, 1, 'running');

    borgSolder.child.kill('SIGTERM');
    await expect.poll(() => borgSolder.output(), { timeout: 10_000 }).toContain('finishing running tasks');
    const lateJobId = await job('drain', 'echo too late');

    expect(await borgSolder.exited).toBe(0);
    const done = await finished(jobId);
    expect(done.tasks.map((t) => [t.status, t.exit_code])).toEqual([['succeeded', 0]]);
    expect((await storedLog(done.tasks[0]!.id)).map((l) => l.message)).toEqual(['finished']);
    const late = await borg().admin.getJob(lateJobId);
    expect(late.tasks.map((t) => t.status)).toEqual(['pending']);
  }, 60_000);

  it('a second SIGTERM: stops the running task, reports it cancelled (agent_stop) so it is retried, and exits', async () => {
    const borgSolder = await solder('stop');
    const pidFile = join(scratch, 'stopped.pid');
    const jobId = await job('stop', `echo $$ > ${pidFile}; echo started; exec sleep 600`, 2);
    const pid = await taskPid(pidFile);
    await task(jobId, 1, 'running');

    borgSolder.child.kill('SIGTERM');
    await expect.poll(() => borgSolder.output(), { timeout: 10_000 }).toContain('finishing running tasks');
    borgSolder.child.kill('SIGTERM');

    expect(await borgSolder.exited).toBe(0);
    expect(isAlive(pid)).toBe(false);
    const attempt1 = await task(jobId, 1, 'cancelled');
    expect(attempt1.reason).toBe('agent_stop');
    await task(jobId, 2, 'pending'); // an attempt remained: it waits for another solder
  }, 60_000);

  it('--once: runs one task and exits 0', async () => {
    const jobIds = [await job('once', 'echo one'), await job('once', 'echo two')];
    const borgSolder = await solder('once', ['--once']);
    expect(await borgSolder.exited).toBe(0);
    const jobs = await Promise.all(jobIds.map((id) => borg().admin.getJob(id)));
    expect(jobs.map((j) => j.tasks[0]!.status).sort()).toEqual(['pending', 'succeeded']);
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

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
