import { randomUUID } from 'node:crypto';

import { BorgApiError, type CreateJobRequest, type Job, type TaskStatusRequest } from '@borg/protocol';
import { afterEach, describe, expect, it } from 'vitest';

import { InvariantChecker } from '../../../test/reliability/harness/invariants.ts';
import { type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';

/**
 * Jobs that wait for jobs (issue 16, dependencies): `blocked` until every dependency is met,
 * `skipped` when one cannot be, released in one statement per upstream ending, re-blocked when
 * an upstream is retried; pipelines created all or none. Runners here are registered and driven
 * by hand (claims and reports through the API), so each step is exact; pipeline-run.test.ts runs
 * a pipeline on a real solder.
 */
describe('job dependencies', () => {
  const borg = useTestMothership();
  const invariants = new InvariantChecker(() => borg().db);
  afterEach(async () => {
    expect(await invariants.check()).toEqual([]);
  });

  /** Each test's jobs and runner share a label no other test uses. */
  function scope() {
    const labels = { scope: randomUUID() };
    const spec = (name: string, extra: Partial<CreateJobRequest> = {}): CreateJobRequest => ({
      name,
      type: 'shell',
      command: 'true',
      ...extra,
      labels: { ...labels, ...extra.labels },
    });
    let runner: TestRunner | undefined;
    const runnerOf = async () => (runner ??= await borg().registerRunner({ max_concurrent_tasks: 100, labels }));
    return {
      spec,
      runner: runnerOf,
      submit: (name: string, extra: Partial<CreateJobRequest> = {}) => borg().admin.createJob(spec(name, extra)),
      /** Claims what the runner can take now; the ids of the jobs claimed, in order. */
      claim: async () => {
        const r = await runnerOf();
        const next = await r.client.nextTasks(r.id, { wait: 0, max: 100 });
        return next?.items ?? [];
      },
      /**
       * Claims as many tasks as the job has (the oldest claimable: the test makes them the
       * job's) and ends them as `status` (with exit code 0 or 1).
       */
      finish: async (job: Job, status: 'succeeded' | 'failed') => {
        const r = await runnerOf();
        const next = await r.client.nextTasks(r.id, { wait: 0, max: job.array_size });
        const mine = (next?.items ?? []).filter((t) => t.job_id === job.id);
        expect(mine.length, `tasks of ${job.name} claimable`).toBe(job.array_size);
        for (const task of mine) {
          await r.client.reportTaskStatus(task.id, { status: 'running' });
          const report: TaskStatusRequest = { status, exit_code: status === 'succeeded' ? 0 : 1 };
          await r.client.reportTaskStatus(task.id, report);
        }
      },
    };
  }

  const statusOf = async (job: { id: string }) => (await borg().admin.getJob(job.id)).status;

  it('keeps a job blocked, its tasks unclaimable, until its upstream succeeds, then releases it', async () => {
    const { submit, claim, finish } = scope();
    const upstream = await submit('build');
    const downstream = await submit('test', { depends_on: [{ job_id: upstream.id }], array_size: 3 });
    expect(downstream.status).toBe('blocked');
    expect(downstream.depends_on).toEqual([
      { job_id: upstream.id, name: 'build', condition: 'succeeded', state: 'waiting' },
    ]);
    const blocked = await borg().admin.getJob(downstream.id);
    expect(blocked.tasks.map((t) => t.status)).toEqual(['blocked', 'blocked', 'blocked']);

    const heard: string[] = [];
    const off = borg().mothership.bus.on(
      'task.updated',
      (e) => e.task.job_id === downstream.id && heard.push(`${e.task.index}:${e.task.status}`),
    );
    await finish(upstream, 'succeeded');
    off();
    // Watchers hear each released attempt, not only the job.
    expect(heard.sort()).toEqual(['0:pending', '1:pending', '2:pending']);
    const released = await borg().admin.getJob(downstream.id);
    expect(released.status).toBe('queued');
    expect(released.depends_on[0]!.state).toBe('met');
    expect(released.tasks.map((t) => t.status)).toEqual(['pending', 'pending', 'pending']);
    expect((await claim()).map((t) => t.job_id)).toEqual([downstream.id, downstream.id, downstream.id]);
  });

  it('skips exactly the dependants a failure leaves unmet, and a retry of the upstream revives them', async () => {
    const { spec, finish, claim, runner } = scope();
    // A fails. B needs A to succeed, D needs B; C runs only when A fails; E stands alone (and
    // no runner here can take it).
    const pipeline = await borg().admin.createPipeline({
      name: 'skips',
      jobs: [
        spec('A'),
        spec('B', { depends_on: [{ name: 'A' }] }),
        spec('C', { depends_on: [{ name: 'A', condition: 'failed' }] }),
        spec('D', { depends_on: [{ name: 'B' }] }),
        spec('E', { labels: { gpu: 'none-here' } }),
      ],
    });
    const [a, b, c, d, e] = pipeline.jobs as [Job, Job, Job, Job, Job];
    expect(pipeline.jobs.map((j) => j.status)).toEqual(['queued', 'blocked', 'blocked', 'blocked', 'queued']);
    expect(new Set(pipeline.jobs.map((j) => j.pipeline_id))).toEqual(new Set([pipeline.id]));

    await finish(a, 'failed');
    const after = await Promise.all([b, c, d, e].map((j) => borg().admin.getJob(j.id)));
    expect(after.map((j) => j.status)).toEqual(['skipped', 'queued', 'skipped', 'queued']);
    expect(after[0]!.skip_reason).toContain(`"A" (${a.id}) ended failed`);
    expect(after[2]!.skip_reason).toContain(`"B" (${b.id}) ended skipped`);
    expect(after[0]!.tasks.map((t) => [t.status, t.reason])).toEqual([['skipped', 'dependency_unmet']]);
    expect(after[0]!.completed_at).not.toBeNull();
    // A skipped job does not run by itself: its upstream is what to retry.
    await expect(borg().admin.retryJob(b.id)).rejects.toMatchObject({ status: 409 });

    await borg().admin.retryJob(a.id);
    expect(await Promise.all([b, c, d].map(statusOf))).toEqual(['blocked', 'queued', 'blocked']);
    const revived = await borg().admin.getJob(b.id);
    expect(revived.tasks.map((t) => [t.attempt, t.status])).toEqual([
      [1, 'skipped'],
      [2, 'blocked'],
    ]);
    expect(revived.skip_reason).toBeNull();
    expect(revived.completed_at).toBeNull();

    // The retried A succeeds now: B is released, D still waits for B, and C, which ran on A's
    // failure, is left as it was.
    const claimed = await claim();
    expect(claimed.map((t) => t.job_id).sort()).toEqual([a.id, c.id].sort());
    const { client } = await runner();
    const retried = claimed.find((t) => t.job_id === a.id)!;
    await client.reportTaskStatus(retried.id, { status: 'running' });
    await client.reportTaskStatus(retried.id, { status: 'succeeded', exit_code: 0 });
    expect(await Promise.all([a, b, c, d].map(statusOf))).toEqual(['succeeded', 'queued', 'running', 'blocked']);
  });

  it('releases a fan-in once, whichever upstream ends last, when they end at the same time', async () => {
    const { submit, claim, runner } = scope();
    const upstreams = await Promise.all(Array.from({ length: 12 }, (_, i) => submit(`part-${i}`)));
    const join = await submit('join', { depends_on: upstreams.map((u) => ({ job_id: u.id })) });
    expect(join.status).toBe('blocked');
    const tasks = await claim();
    expect(tasks).toHaveLength(12);
    const { client } = await runner();
    await Promise.all(tasks.map((t) => client.reportTaskStatus(t.id, { status: 'running' })));
    await Promise.all(tasks.map((t) => client.reportTaskStatus(t.id, { status: 'succeeded', exit_code: 0 })));
    const released = await borg().admin.getJob(join.id);
    expect(released.status).toBe('queued');
    expect(released.depends_on.every((d) => d.state === 'met')).toBe(true);
    expect(released.tasks.map((t) => t.status)).toEqual(['pending']);
  });

  it('resolves at submit the dependencies on jobs that already ended', async () => {
    const { submit, finish } = scope();
    const good = await submit('good');
    const bad = await submit('bad');
    await finish(good, 'succeeded');
    await finish(bad, 'failed');
    const runs = await submit('after-good', { depends_on: [{ job_id: good.id }] });
    expect(runs.status).toBe('queued');
    const skipped = await submit('after-bad', { depends_on: [{ job_id: good.id }, { job_id: bad.id }] });
    expect(skipped.status).toBe('skipped');
    expect(skipped.skip_reason).toContain('"bad"');
    const cleanup = await submit('on-failure', { depends_on: [{ job_id: bad.id, condition: 'failed' }] });
    expect(cleanup.status).toBe('queued');
    const always = await submit('always', { depends_on: [{ job_id: bad.id, condition: 'finished' }] });
    expect(always.status).toBe('queued');
  });

  it('cancels downstream jobs only when asked to cascade', async () => {
    const { submit } = scope();
    const first = await submit('first', { command: 'sleep 600' });
    const second = await submit('second', { depends_on: [{ job_id: first.id }] });
    const third = await submit('third', { depends_on: [{ job_id: second.id }] });
    await borg().admin.cancelJob(first.id);
    // Not cancelled: skipped, because what they waited for can no longer succeed.
    expect(await Promise.all([first, second, third].map(statusOf))).toEqual(['cancelled', 'skipped', 'skipped']);

    const top = await submit('top', { command: 'sleep 600' });
    const middle = await submit('middle', { depends_on: [{ job_id: top.id }] });
    const bottom = await submit('bottom', { depends_on: [{ job_id: middle.id, condition: 'finished' }] });
    await borg().admin.cancelJob(top.id, { cascade: true });
    expect(await Promise.all([top, middle, bottom].map(statusOf))).toEqual(['cancelled', 'cancelled', 'cancelled']);
  });

  it('refuses dependencies that cannot be', async () => {
    const { spec, submit } = scope();
    const upstream = await submit('up', { array_size: 2 });
    const refused = async (request: Promise<unknown>, message: RegExp) => {
      const error = await request.then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(BorgApiError);
      expect((error as BorgApiError).status).toBe(400);
      expect((error as BorgApiError).message).toMatch(message);
    };
    await refused(submit('x', { depends_on: [{ job_id: randomUUID() }] }), /unknown job id .* in depends_on/);
    await refused(submit('x', { depends_on: [{ name: 'up' }] }), /same pipeline/);
    await refused(submit('x', { depends_on: [{ job_id: upstream.id }, { job_id: upstream.id }] }), /already/);
    await refused(
      submit('x', { array_size: 3, inputs_from: [{ job_id: upstream.id, element: 'same' }] }),
      /arrays of one size/,
    );
    await refused(
      borg().admin.createPipeline({
        jobs: [
          spec('a', { depends_on: [{ name: 'c' }] }),
          spec('b', { depends_on: [{ name: 'a' }] }),
          spec('c', { depends_on: [{ name: 'b' }] }),
        ],
      }),
      /cycle through "a", "b", "c"/,
    );
    await refused(
      borg().admin.createPipeline({ jobs: [spec('a', { depends_on: [{ name: 'nope' }] })] }),
      /no job named "nope"/,
    );
    await refused(borg().admin.createPipeline({ jobs: [spec('a'), spec('a')] }), /share this name/);

    // All or none: the third job's unknown secret leaves no job of the pipeline behind.
    const name = `atomic-${randomUUID()}`;
    const error = await borg()
      .admin.createPipeline({
        name,
        jobs: [
          spec('one'),
          spec('two', { depends_on: [{ name: 'one' }] }),
          spec('three', { secrets: { X: 'no-such' } }),
        ],
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 400, message: expect.stringContaining('job "three": unknown secret') });
    const { rows } = await borg().db.query('SELECT count(*)::integer AS n FROM pipelines WHERE name = $1', [name]);
    expect(rows[0]).toEqual({ n: 0 });
  });

  it("draws a job's graph: its upstream and downstream jobs and the dependencies between them", async () => {
    const { spec } = scope();
    const pipeline = await borg().admin.createPipeline({
      jobs: [
        spec('A'),
        spec('B', { depends_on: [{ name: 'A' }] }),
        spec('C', { depends_on: [{ name: 'A' }] }),
        spec('D', { depends_on: [{ name: 'B' }, { name: 'C', condition: 'finished' }] }),
      ],
    });
    const [a, b, c, d] = pipeline.jobs as [Job, Job, Job, Job];
    const graph = await borg().admin.getJobGraph(b.id);
    expect(graph.truncated).toBe(false);
    expect(graph.nodes.map((n) => n.name).sort()).toEqual(['A', 'B', 'C', 'D']);
    expect(graph.edges).toEqual(
      expect.arrayContaining([
        { from: a.id, to: b.id, condition: 'succeeded', state: 'waiting' },
        { from: a.id, to: c.id, condition: 'succeeded', state: 'waiting' },
        { from: b.id, to: d.id, condition: 'succeeded', state: 'waiting' },
        { from: c.id, to: d.id, condition: 'finished', state: 'waiting' },
      ]),
    );
    expect(graph.edges).toHaveLength(4);
    expect((await borg().admin.getPipeline(pipeline.id)).jobs.map((j) => j.name)).toEqual(['A', 'B', 'C', 'D']);
  });
});
