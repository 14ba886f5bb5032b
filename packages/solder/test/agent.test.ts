import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

import type { LogLine } from '@borg/protocol';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { finishedJob, type InProcessSolder, startSolder } from '../../../test/test-solder.ts';

describe('a solder running tasks against a real mothership', () => {
  const borg = useTestMothership();
  let solder: InProcessSolder;

  beforeAll(async () => {
    solder = await startSolder(borg(), { maxConcurrentTasks: 3, labels: 'pool=test' });
  });
  afterAll(async () => {
    const t = Date.now();
    await solder?.stop({ cancelRunning: true });
    console.log('solder stopped in', Date.now() - t);
  });

  const finished = (jobId: string) => finishedJob(borg(), jobId);

  async function allLogs(taskId: string): Promise<LogLine[]> {
    const lines: LogLine[] = [];
    for (let after = -1; ;) {
      const page = await borg().admin.getTaskLogs(taskId, { after, limit: 10_000 });
      lines.push(...page.items);
      if (!page.next_cursor) return lines;
      after = Number(page.next_cursor);
    }
  }

  it('registers with its resources and automatic labels', async () => {
    const runner = await borg().admin.getRunner(solder.agent.id);
    expect(runner.labels).toMatchObject({ pool: 'test', os: process.platform, arch: process.arch, gpu: 'false' });
    expect(runner.max_concurrent_tasks).toBe(3);
    expect(runner.status).not.toBe('offline');
  });

  it("delivers a shell task's exact output, in order, on both streams", async () => {
    const big = 'x'.repeat(1_000_000);
    const command = [
      'printf "first\\n"',
      'printf "to stderr\\n" >&2',
      `printf '%s\\n' "$(head -c 1000000 /dev/zero | tr '\\0' x)"`,
      'printf "caf\\303\\251 \\360\\237\\230\\200\\n"',
      'printf "bad \\377 byte\\n"',
      'printf "<script>alert(1)</script>\\n"',
      'for i in 1 2 3; do echo "out $i"; echo "err $i" >&2; done',
      'printf "no newline at the end"',
    ].join('; ');
    const job = await borg().admin.createJob({ name: 'exact-output', type: 'shell', command });
    const done = await finished(job.id);
    expect(done.status).toBe('succeeded');
    const lines = await allLogs(done.tasks[0]!.id);
    const stdout = lines.filter((l) => l.stream === 'stdout').map((l) => l.message);
    const stderr = lines.filter((l) => l.stream === 'stderr').map((l) => l.message);
    expect(stdout).toEqual([
      'first',
      big,
      'café 😀',
      'bad \uFFFD byte',
      '<script>alert(1)</script>',
      'out 1',
      'out 2',
      'out 3',
      'no newline at the end',
    ]);
    expect(stderr).toEqual(['to stderr', 'err 1', 'err 2', 'err 3']);
    expect(lines.map((l) => l.index)).toEqual(lines.map((_, i) => i));
  });

  it("passes a binary task's argv unchanged, with no shell in between", async () => {
    const args = ['$(id)', '`id`', ';id', 'it\'s "quoted"', 'two words', '--privileged', '-e FOO=bar'];
    const job = await borg().admin.createJob({
      name: 'argv',
      type: 'binary',
      command: [process.execPath, '-e', 'console.log(JSON.stringify(process.argv.slice(1)))', ...args],
    });
    const done = await finished(job.id);
    expect(done.status).toBe('succeeded');
    const [line] = (await allLogs(done.tasks[0]!.id)).filter((l) => l.stream === 'stdout');
    expect(JSON.parse(line!.message)).toEqual(args);
    expect(line!.message).not.toContain('uid=');
  });

  it('gives the task its env, BORG_* variables and array index', async () => {
    const job = await borg().admin.createJob({
      name: 'env',
      type: 'shell',
      command:
        'echo "$GREETING $BORG_TASK_INDEX/$BORG_ARRAY_SIZE attempt $BORG_ATTEMPT ${BORG_REGISTRATION_TOKEN:-no-secret}"',
      env: { GREETING: 'hello' },
      array_size: 3,
    });
    const done = await finished(job.id);
    expect(done.status).toBe('succeeded');
    const outputs = await Promise.all(done.tasks.map(async (t) => (await allLogs(t.id))[0]!.message));
    expect(outputs.sort()).toEqual([
      'hello 0/3 attempt 1 no-secret',
      'hello 1/3 attempt 1 no-secret',
      'hello 2/3 attempt 1 no-secret',
    ]);
  });

  it('places input files, runs in the workspace and uploads artifacts before reporting success', async () => {
    const content = randomBytes(200_000);
    const file = await borg().admin.uploadFile(new Blob([content]), 'input.bin');
    const job = await borg().admin.createJob({
      name: 'files',
      type: 'shell',
      command:
        'mkdir -p out && sha256sum data/input.bin | cut -d" " -f1 > out/hash.txt && cp data/input.bin out/copy.bin',
      files: [{ file_id: file.id, path: 'data/input.bin' }],
      artifacts: ['out/*'],
    });
    const done = await finished(job.id);
    expect(done.status).toBe('succeeded');
    const artifacts = await borg().admin.listArtifacts(done.tasks[0]!.id);
    const byPath = Object.fromEntries(artifacts.items.map((a) => [a.path, a]));
    expect(Object.keys(byPath).sort()).toEqual(['out/copy.bin', 'out/hash.txt']);
    expect(byPath['out/copy.bin']!.sha256).toBe(file.sha256);
    const hash = await (await borg().admin.downloadFile(byPath['out/hash.txt']!.file_id)).text();
    expect(hash.trim()).toBe(file.sha256);
  });

  it('reports a failing exit code and retries while attempts remain', async () => {
    const job = await borg().admin.createJob({ name: 'fails', type: 'shell', command: 'exit 3', max_attempts: 2 });
    const done = await finished(job.id);
    expect(done.status).toBe('failed');
    expect(done.tasks.map((t) => [t.attempt, t.status, t.exit_code])).toEqual([
      [1, 'failed', 3],
      [2, 'failed', 3],
    ]);
  });

  it('kills a task past its timeout, children included, and reports timed_out', async () => {
    const job = await borg().admin.createJob({
      name: 'timeout',
      type: 'shell',
      command: 'trap "" TERM; sleep 1000 & echo $! > child.pid; sleep 1000',
      timeout_seconds: 1,
    });
    const done = await finished(job.id);
    expect(done.tasks[0]).toMatchObject({ status: 'timed_out', reason: 'timed_out' });
  });

  it('stops a cancelled task within about a second and reports it cancelled', async () => {
    // Unusual sleep lengths identify this task's processes in `ps`.
    const [child, grandchild] = [1_000_000 + randomBytes(2).readUInt16BE(), 2_000_000 + randomBytes(2).readUInt16BE()];
    const marker = new RegExp(`sleep (${child}|${grandchild})$`);
    const job = await borg().admin.createJob({
      name: 'cancel',
      type: 'shell',
      command: `trap "" TERM; sleep ${child} & sh -c 'sleep ${grandchild}' & echo started; wait`,
    });
    const taskId = await vi.waitFor(
      async () => {
        const [task] = (await borg().admin.getJob(job.id)).tasks;
        expect(task?.status, 'the task to be running').toBe('running');
        return task!.id;
      },
      { timeout: 20_000 },
    );
    await expect.poll(async () => (await allLogs(taskId)).length, { timeout: 20_000 }).toBeGreaterThan(0);
    await borg().admin.cancelJob(job.id);
    const done = await finished(job.id);
    expect(done.status).toBe('cancelled');
    expect(done.tasks[0]).toMatchObject({ status: 'cancelled', reason: 'cancelled' });
    const survivors = execFileSync('ps', ['-eo', 'args'])
      .toString()
      .split('\n')
      .filter((l) => marker.test(l.trim()));
    expect(survivors).toEqual([]);
  });

  it('hands a no-op task to a waiting solder within milliseconds of the submit', async () => {
    const gaps: number[] = [];
    for (let i = 0; i < 10; i++) {
      const job = await borg().admin.createJob({ name: `noop-${i}`, type: 'shell', command: 'true' });
      const done = await finished(job.id);
      const task = done.tasks[0]!;
      gaps.push(Date.parse(task.started_at!) - Date.parse(job.created_at));
    }
    gaps.sort((a, b) => a - b);
    // A figure for the notes, not an assertion on speed: submit → `running` reported.
    console.log(`submit → running, no-op shell task: median ${gaps[5]} ms, max ${gaps[9]} ms (10 jobs)`);
    // The long-poll must have been woken: nothing waited for the 5 s poll.
    expect(gaps[9]).toBeLessThan(5_000);
  });

  it('offers a freed slot at once, without waiting out the listen-only long-poll of a full solder', async () => {
    // One slot and a 30 s long-poll: while its task runs, the solder's poll asks for nothing.
    const single = await startSolder(borg(), { maxConcurrentTasks: 1, longPollSeconds: 30, labels: 'pool=one-slot' });
    try {
      const jobs = await Promise.all(
        [0, 1].map((i) =>
          borg().admin.createJob({
            name: `one-slot-${i}`,
            type: 'shell',
            command: 'sleep 0.3',
            labels: { pool: 'one-slot' },
          }),
        ),
      );
      const [first, second] = (await Promise.all(jobs.map((j) => finished(j.id))))
        .map((j) => j.tasks[0]!)
        .sort((a, b) => Date.parse(a.started_at!) - Date.parse(b.started_at!));
      expect(first!.runner_id).toBe(single.agent.id);
      expect(second!.runner_id).toBe(single.agent.id);
      // Without the abort, the second task waited for the 30 s poll to end.
      expect(Date.parse(second!.assigned_at!) - Date.parse(first!.completed_at!)).toBeLessThan(10_000);
    } finally {
      await single.stop();
    }
  });
});
