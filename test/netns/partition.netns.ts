import { randomInt } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { CreateJobRequest, JobWithTasks, Task } from '@borg/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { TestMothership } from '../test-mothership.ts';
import { eventually, type SolderProcess, spawnSolder } from '../test-solder.ts';
import { NamespaceHost, netnsUnavailable } from './network-namespaces.ts';

/**
 * Partitions without double work (issue 16; docs/job-lifecycle.md, "Cut off from the
 * mothership"). One mothership in this network namespace, three solders, each on a "host" of
 * its own (a network namespace joined by a veth pair), two tasks at a time each. A six-element
 * array of 12 s tasks runs on all three; one host's cable is pulled mid-run. Every run of an
 * element that finishes appends a line to done-<element> in a shared directory, so the test
 * counts the runs that finished, whatever Borg recorded. Heartbeats every 2 s: the mothership
 * calls a silent runner offline after 6 s.
 *
 * Before on_disconnect, the cut-off solder ran its two tasks to the end while the mothership
 * ran them again elsewhere: two of six elements finished twice.
 *
 * `npm run test:netns` (root, Linux); it says it was skipped where network namespaces are not allowed.
 */
const unavailable = netnsUnavailable();

describe.skipIf(unavailable)('three solders on three hosts, one cut off mid-run', () => {
  let borg: TestMothership;
  let hosts: NamespaceHost[] = [];
  let solders: SolderProcess[] = [];
  let scratch: string;

  beforeAll(async () => {
    borg = await TestMothership.start({
      config: { host: '0.0.0.0', heartbeatIntervalSeconds: 2 },
      maintenance: true,
    });
  });
  afterAll(async () => {
    await borg?.close();
  });
  afterEach(async () => {
    for (const host of hosts) host.heal();
    for (const solder of solders) await solder.cleanup();
    for (const host of hosts) host.remove();
    await rm(scratch, { recursive: true, force: true });
    hosts = [];
    solders = [];
  });

  /** Three hosts with a solder each, all taking this case's work. */
  async function threeHosts(label: string): Promise<void> {
    scratch = await mkdtemp(join(tmpdir(), 'borg-netns-'));
    await chmod(scratch, 0o777); // tasks run as another user under a root solder
    const run = String(process.pid % 100_000);
    const subnet = randomInt(100, 250);
    const port = new URL(borg.url).port;
    for (let n = 0; n < 3; n++) {
      const host = NamespaceHost.create(run, n, subnet);
      hosts.push(host);
      solders.push(
        await spawnSolder(
          borg,
          ['--insecure', '--max-concurrent-tasks', '2', '--labels', `case=${label}`, '--name', `host-${n}`],
          undefined,
          {
            via: `http://${host.hostAddress}:${port}`,
            wrap: host.exec,
          },
        ),
      );
    }
    await eventually(
      async () =>
        (await borg.admin.listRunners()).items.filter((r) => r.labels.case === label && r.status !== 'offline')
          .length === 3,
      30_000,
      'three solders to register from their hosts',
    ).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}; their output:\n${solders.map((s) => s.output()).join('\n---\n')}`);
    });
  }

  const ELEMENTS = 6;

  /** Each element's run appends its attempt to done-<element> when it finishes. */
  function submit(label: string, extra: Partial<CreateJobRequest>) {
    return borg.admin.createJob({
      name: `partition-${label}`,
      type: 'shell',
      command: `echo "$BORG_TASK_INDEX $BORG_ATTEMPT" >> ${scratch}/started; sleep 12; echo "$BORG_ATTEMPT" >> ${scratch}/done-$BORG_TASK_INDEX`,
      labels: { case: label },
      array_size: ELEMENTS,
      retry: { max_attempts: 1 },
      ...extra,
    });
  }

  const lines = (file: string) => (existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : []);
  const finishedRuns = () => Array.from({ length: ELEMENTS }, (_, i) => lines(join(scratch, `done-${i}`)).length);

  async function allRunning(jobId: string): Promise<Task[]> {
    return eventually(
      async () => {
        const tasks = (await borg.admin.getJob(jobId)).tasks;
        return tasks.length === ELEMENTS && tasks.every((t) => t.status === 'running') ? tasks : undefined;
      },
      30_000,
      'all six elements to run',
    );
  }

  /** The host whose solder holds the first element, and the elements it holds. */
  async function hostOf(task: Task, tasks: Task[]): Promise<{ host: NamespaceHost; elements: number[] }> {
    const runner = await borg.admin.getRunner(task.runner_id!);
    const n = Number(runner.name.replace('host-', ''));
    return { host: hosts[n]!, elements: tasks.filter((t) => t.runner_id === task.runner_id).map((t) => t.index) };
  }

  const finished = (jobId: string, timeoutMs = 90_000): Promise<JobWithTasks> =>
    eventually(
      async () => {
        const job = await borg.admin.getJob(jobId);
        return job.completed_at ? job : undefined;
      },
      timeoutMs,
      'the job to end',
    );

  it('by default each element finishes exactly once: the cut-off solder stops its copies, the mothership runs them elsewhere', async () => {
    await threeHosts('default');
    const job = await submit('default', {});
    const tasks = await allRunning(job.id);
    const { host, elements } = await hostOf(tasks[0]!, tasks);
    expect(elements).toHaveLength(2);

    host.cut();
    const lostRunner = tasks[0]!.runner_id!;
    await eventually(
      async () => (await borg.admin.getRunner(lostRunner)).status === 'offline',
      30_000,
      'the cut-off runner to be offline',
    );
    const done = await finished(job.id);
    host.heal(); // back in touch after the job ended: what it says of its old copies is refused

    expect(done.status).toBe('succeeded');
    expect(finishedRuns()).toEqual(Array(ELEMENTS).fill(1));
    // The two cut-off elements started twice (their copies were stopped), the others once.
    const starts = lines(join(scratch, 'started')).map((line) => Number(line.split(' ')[0]));
    for (let i = 0; i < ELEMENTS; i++) {
      expect(starts.filter((e) => e === i).length, `element ${i} starts`).toBe(elements.includes(i) ? 2 : 1);
    }
    for (const i of elements) {
      const attempts = done.tasks.filter((t) => t.index === i);
      expect(attempts.map((t) => [t.attempt, t.status, t.reason])).toEqual([
        [1, 'lost', 'runner_lost'],
        [2, 'succeeded', null],
      ]);
      expect(attempts[0]!.retry_decision).toMatchObject({ retried: true, rule: 'on_lost', counted: false });
      expect(attempts[1]!.runner_id).not.toBe(lostRunner);
    }
    await eventually(
      async () => (await borg.admin.getRunner(lostRunner)).status !== 'offline',
      30_000,
      'the healed runner to be back',
    );
    expect((await borg.admin.getJob(job.id)).tasks).toEqual(done.tasks);
  }, 180_000);

  it('keep: the cut-off copies run on and succeed first, are taken over when their host is back, and the copies run elsewhere are stopped', async () => {
    await threeHosts('keep');
    const job = await submit('keep', { on_disconnect: { keep: true } });
    const tasks = await allRunning(job.id);
    const { host, elements } = await hostOf(tasks[0]!, tasks);
    const cutRunner = tasks[0]!.runner_id!;

    host.cut();
    // The mothership takes the two attempts back and queues them again; the cut-off copies run on
    // and finish (12 s) while the other hosts are still busy with their own first elements.
    await eventually(
      async () => (await borg.admin.getRunner(cutRunner)).status === 'offline',
      30_000,
      'the cut-off runner to be offline',
    );
    await eventually(
      () => elements.every((i) => lines(join(scratch, `done-${i}`)).length === 1),
      30_000,
      'the cut-off copies to finish',
    );
    host.heal();
    const done = await finished(job.id);

    expect(done.status).toBe('succeeded');
    // Each element finished once: the copies elsewhere (started as slots freed) were stopped.
    expect(finishedRuns()).toEqual(Array(ELEMENTS).fill(1));
    for (const i of elements) {
      expect(done.tasks.filter((t) => t.index === i).map((t) => [t.attempt, t.status, t.reason])).toEqual([
        [1, 'lost', 'runner_lost'],
        [2, 'cancelled', 'superseded'],
        [3, 'succeeded', null],
      ]);
      expect(done.tasks.find((t) => t.index === i && t.attempt === 3)!.runner_id).toBe(cutRunner);
    }
    // Wait until no copy is left anywhere, then count again: still once each.
    await eventually(
      async () => (await borg.admin.listRunners()).items.every((r) => r.active_tasks === 0),
      30_000,
      'every runner to be idle',
    );
    expect(finishedRuns()).toEqual(Array(ELEMENTS).fill(1));
  }, 180_000);
});

if (unavailable) {
  describe('three solders on three hosts', () => {
    it.skip(`skipped: ${unavailable}`, () => undefined);
  });
}
