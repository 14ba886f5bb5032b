import { randomUUID } from 'node:crypto';

import { BorgApiError, type CreateJobRequest, type TaskPlacement, type UnsatisfiableDetails } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { type TestMothership, useTestMothership } from '../../../test/test-mothership.ts';
import { registerRunner } from './register-runner.ts';

const job = (name: string, extra: Partial<CreateJobRequest> = {}): CreateJobRequest => ({
  name,
  type: 'shell',
  command: 'true',
  ...extra,
});

async function rejection(promise: Promise<unknown>): Promise<BorgApiError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof BorgApiError)) throw new Error(`expected a BorgApiError, got ${String(error)}`);
  return error;
}

const reasonsOn = (placement: TaskPlacement, runner: string) =>
  placement.runners.find((r) => r.runner_name === runner)?.reasons;

describe('satisfiability at submit', () => {
  const borg = useTestMothership();

  it('accepts anything, unmarked, while no runner is known', async () => {
    const { admin } = borg();
    const accepted = await admin.createJob(job('early', { labels: { gpu: 'true' }, unsatisfiable: 'reject' }));
    expect(accepted.unsatisfiable).toBe(false);
  });

  it("refuses with 422 and each runner's reasons, nearest first, what no known runner could ever take", async () => {
    const b = borg();
    await registerRunner(b, 'a-linux', { labels: { os: 'linux' }, capacity: { cpu: 4, memory_mb: 8192, gpus: [] } });
    await registerRunner(b, 'b-mac', { labels: { os: 'darwin' } });

    const byLabel = await rejection(
      b.admin.createJob(job('typo', { labels: { gpu: 'ture' }, unsatisfiable: 'reject' })),
    );
    expect(byLabel).toMatchObject({ status: 422, code: 'UNSATISFIABLE' });
    expect(byLabel.message).toContain('label gpu: wants ture, has none');
    expect((byLabel.details as UnsatisfiableDetails).runners).toEqual([
      {
        runner_id: expect.any(String),
        runner_name: 'a-linux',
        eligible: false,
        reasons: ['label gpu: wants ture, has none'],
      },
      {
        runner_id: expect.any(String),
        runner_name: 'b-mac',
        eligible: false,
        reasons: ['label gpu: wants ture, has none'],
      },
    ]);

    const byCpu = await rejection(
      b.admin.createJob(job('big', { labels: { os: 'linux' }, resources: { cpu: 8 }, unsatisfiable: 'reject' })),
    );
    expect((byCpu.details as UnsatisfiableDetails).runners.map((r) => [r.runner_name, r.reasons])).toEqual([
      ['a-linux', ['cpu: needs 8, 4 in all']],
      ['b-mac', ['label os: wants linux, has darwin', 'cpu: needs 8, 0 in all']],
    ]);

    const byConstraint = await rejection(
      b.admin.createJob(job('windows', { constraints: ['os == windows'], unsatisfiable: 'reject' })),
    );
    // b-mac's label os=darwin is its attribute too: a label wins over what detection says.
    expect((byConstraint.details as UnsatisfiableDetails).runners.map((r) => r.reasons)).toEqual([
      ['constraint os == windows: has linux'],
      ['constraint os == windows: has darwin'],
    ]);
    expect((await b.admin.listJobs({ name: 'windows' })).items).toEqual([]);
  });

  it('accepts and marks such a job with "queue", or with no policy at all', async () => {
    const { admin } = borg();
    const queued = await admin.createJob(job('queued', { labels: { gpu: 'ture' }, unsatisfiable: 'queue' }));
    expect(queued).toMatchObject({ status: 'queued', unsatisfiable: true });
    const absent = await admin.createJob(job('absent', { labels: { gpu: 'ture' } }));
    expect(absent).toMatchObject({ status: 'queued', unsatisfiable: true });
  });

  it('accepts, unmarked, what some runner could take, and a job that asks for nothing', async () => {
    const b = borg();
    const fits = await b.admin.createJob(
      job('fits', { labels: { os: 'linux' }, resources: { cpu: 4, memory_mb: 8192 }, unsatisfiable: 'reject' }),
    );
    expect(fits.unsatisfiable).toBe(false);
    const plain = await b.admin.createJob(job('plain', { unsatisfiable: 'reject' }));
    expect(plain.unsatisfiable).toBe(false);
  });

  it('forgets runners unheard of for 7 days: with none left, it accepts again', async () => {
    const b = borg();
    await b.db.query(`UPDATE runners SET status = 'offline', last_heartbeat = now() - interval '8 days'`);
    const accepted = await b.admin.createJob(job('later', { labels: { gpu: 'ture' }, unsatisfiable: 'reject' }));
    expect(accepted.unsatisfiable).toBe(false);
  });
});

describe('why a task waits', () => {
  const borg = useTestMothership();
  const GPU = { index: 0, uuid: 'GPU-aaaa', model: 'Tesla T4', memory_mb: 16_000, memory_free_mb: 15_000 };
  let box: Awaited<ReturnType<typeof registerRunner>>;

  const firstTask = async (b: TestMothership, jobId: string) => (await b.admin.getJob(jobId)).tasks[0]!.id;
  const explain = async (b: TestMothership, jobId: string) => b.admin.getTaskPlacement(await firstTask(b, jobId));

  it('names the label and the constraint a runner lacks', async () => {
    const b = borg();
    box = await registerRunner(b, 'box', {
      labels: { os: 'linux' },
      capacity: { cpu: 2, memory_mb: 4096, gpus: [GPU] },
      max_concurrent_tasks: 1,
    });
    const mac = await b.admin.createJob(job('mac', { labels: { os: 'darwin' } }));
    const placement = await explain(b, mac.id);
    expect(placement).toMatchObject({
      status: 'pending',
      position: 1,
      estimated_wait_seconds: null,
      job_reasons: [],
      runners: [{ runner_name: 'box', eligible: false, reasons: ['label os: wants darwin, has linux'] }],
      runners_not_listed: 0,
      summary: 'label os: wants darwin, has linux',
    });

    const a100 = await b.admin.createJob(job('a100', { constraints: ['gpu_model in (A100)'] }));
    expect(reasonsOn(await explain(b, a100.id), 'box')).toEqual(['constraint gpu_model in (A100): has Tesla T4']);
    // The job's placement is its first pending task's.
    expect((await b.admin.getJobPlacement(a100.id)).task_id).toBe(await firstTask(b, a100.id));
  });

  it('names the resources a runner lacks, the task holding its GPU, and its full slots', async () => {
    const b = borg();
    const memory = await b.admin.createJob(job('memory', { resources: { memory_mb: 8192 } }));
    expect(reasonsOn(await explain(b, memory.id), 'box')).toEqual(['memory: needs 8192 MB, 4096 free']);

    const holder = await b.admin.createJob(job('holder', { resources: { gpus: 1 }, priority: 100 }));
    const claimed = (await box.client.nextTasks(box.id, { wait: 0, max: 1 }))?.items ?? [];
    expect(claimed.map((t) => t.job_id)).toEqual([holder.id]);

    const second = await b.admin.createJob(job('second-gpu', { resources: { gpus: 1 }, priority: 50 }));
    expect(reasonsOn(await explain(b, second.id), 'box')).toEqual([
      `gpus: needs 1, 0 free (task ${claimed[0]!.id.slice(0, 8)} holds 0)`,
      'slots full (1 of 1)',
    ]);
    const plain = await b.admin.createJob(job('plain', { priority: 40 }));
    const placement = await explain(b, plain.id);
    expect(reasonsOn(placement, 'box')).toEqual(['slots full (1 of 1)']);
    expect(placement.summary).toBe('slots full (1 of 1)');

    // The holder is not waiting; it says where it is.
    const held = await b.admin.getTaskPlacement(claimed[0]!.id);
    expect(held).toMatchObject({
      status: 'assigned',
      position: null,
      runners: [],
      summary: 'assigned to box: not waiting',
    });
  });

  it('counts the tasks ahead that compete for the same runners, and estimates the wait from the last hour', async () => {
    const b = borg();
    // Ahead of it in claim order (priority first): second-gpu (50), whose labels box's match.
    // After it: mac, a100 and memory (priority 0).
    const plain = (await b.admin.listJobs({ name: 'plain' })).items[0]!;
    const placement = await explain(b, plain.id);
    expect(placement.position).toBe(2);
    // No task like it (same labels, no request) was assigned in the last hour (the holder asked
    // for a GPU): no estimate.
    expect(placement.estimated_wait_seconds).toBeNull();

    const like = await b.admin.createJob(job('like-plain', { priority: 1000 }));
    await b.db.query(
      `UPDATE tasks SET status = 'succeeded', assigned_at = now() - interval '10 minutes', completed_at = now()
        WHERE job_id = $1`,
      [like.id],
    );
    // 1 like it in the hour; 2nd in line: 2 × 3600 s.
    expect((await explain(b, plain.id)).estimated_wait_seconds).toBe(7200);
  });

  it('gives the job-level reasons: paused, backoff', async () => {
    const b = borg();
    const plain = (await b.admin.listJobs({ name: 'plain' })).items[0]!;
    await b.admin.pauseJob(plain.id);
    const paused = await explain(b, plain.id);
    expect(paused).toMatchObject({ job_reasons: ['job paused'], summary: 'job paused', estimated_wait_seconds: null });
    await b.admin.resumeJob(plain.id);

    const until = await b.db.query<{ at: Date }>(
      `UPDATE tasks SET available_at = now() + interval '5 minutes' WHERE job_id = $1 RETURNING available_at AS at`,
      [plain.id],
    );
    const hhmmss = until.rows[0]!.at.toISOString().slice(11, 19);
    const backoff = await explain(b, plain.id);
    expect(backoff.job_reasons).toEqual([`backoff until ${hhmmss} UTC`]);
    expect(backoff.summary).toBe(`backoff until ${hhmmss} UTC`);
    expect(backoff.estimated_wait_seconds).toBeGreaterThanOrEqual(290);
  });

  it('says offline, draining and awaiting approval, and lists eligible runners first', async () => {
    const b = borg();
    const spare = await registerRunner(b, 'spare', { max_concurrent_tasks: 2 });
    const mac = (await b.admin.listJobs({ name: 'mac' })).items[0]!;
    // mac wants os=darwin: spare lacks it as well.
    expect(reasonsOn(await explain(b, mac.id), 'spare')).toEqual(['label os: wants darwin, has none']);

    const later = await b.admin.createJob(job('later', { priority: -5 }));
    let placement = await explain(b, later.id);
    expect(placement.runners.map((r) => [r.runner_name, r.eligible])).toEqual([
      ['spare', true],
      ['box', false],
    ]);
    expect(placement.summary).toMatch(/ahead in line; 1 runner could take it now$/);

    await b.admin.drainRunner(spare.id);
    await b.db.query(`UPDATE runners SET status = 'offline', approved_at = NULL WHERE id = $1`, [spare.id]);
    placement = await explain(b, later.id);
    expect(reasonsOn(placement, 'spare')).toEqual(['offline', 'draining', 'awaiting approval']);
  });

  it('answers 404 for a task or job that does not exist', async () => {
    const { admin } = borg();
    await expect(admin.getTaskPlacement(randomUUID())).rejects.toMatchObject({ status: 404, code: 'TASK_NOT_FOUND' });
    await expect(admin.getJobPlacement(randomUUID())).rejects.toMatchObject({ status: 404, code: 'JOB_NOT_FOUND' });
  });
});

describe('why a task waits: job types the runners take', () => {
  const borg = useTestMothership();

  it('says a runner takes no container jobs, and when no online runner takes them; refuses such a job at submit', async () => {
    const b = borg();
    const noRuntime = await registerRunner(b, 'no-runtime', { job_types: ['shell', 'binary'] });
    expect((await b.admin.getRunner(noRuntime.id)).job_types).toEqual(['shell', 'binary']);
    const container = { type: 'container' as const, image: 'alpine:3.20', command: ['true'] };
    // At submit: refused when asked to be, naming the runner's reason; else queued, marked.
    const refused = await rejection(b.admin.createJob(job('image-now', { ...container, unsatisfiable: 'reject' })));
    expect(refused).toMatchObject({ status: 422, code: 'UNSATISFIABLE' });
    expect((refused.details as UnsatisfiableDetails).runners).toEqual([
      {
        runner_id: noRuntime.id,
        runner_name: 'no-runtime',
        eligible: false,
        reasons: ['takes no container jobs (only shell, binary)'],
      },
    ]);
    const image = await b.admin.createJob(job('image', container));
    expect(image.unsatisfiable).toBe(true);
    const firstTask = async () => (await b.admin.getJob(image.id)).tasks[0]!.id;
    let placement = await b.admin.getTaskPlacement(await firstTask());
    expect(placement.runners).toEqual([
      {
        runner_id: noRuntime.id,
        runner_name: 'no-runtime',
        eligible: false,
        reasons: ['takes no container jobs (only shell, binary)'],
      },
    ]);
    expect(placement.summary).toBe('no online runner takes container jobs');
    // Its shell jobs are placed as before.
    const shell = await b.admin.createJob(job('shell'));
    expect((await b.admin.getJobPlacement(shell.id)).runners[0]).toMatchObject({
      runner_name: 'no-runtime',
      eligible: true,
    });

    // A solder that says nothing of its types (older than the field) takes every type.
    const older = await registerRunner(b, 'older');
    expect((await b.admin.getRunner(older.id)).job_types).toBeNull();
    placement = await b.admin.getJobPlacement(image.id);
    expect(placement.runners.map((r) => [r.runner_name, r.reasons])).toEqual([
      ['older', []],
      ['no-runtime', ['takes no container jobs (only shell, binary)']],
    ]);
    expect(placement.summary).toMatch(/1 runner could take it now$/);
    expect((await b.admin.createJob(job('image-ok', { ...container, unsatisfiable: 'reject' }))).unsatisfiable).toBe(
      false,
    );

    await b.db.query(`UPDATE runners SET status = 'offline' WHERE id = $1`, [older.id]);
    placement = await b.admin.getJobPlacement(image.id);
    expect(placement.summary).toBe('no online runner takes container jobs');
    expect(placement.runners.find((r) => r.runner_name === 'older')?.reasons).toEqual(['offline']);
  });

  it('refuses a registration naming a job type that does not exist', async () => {
    await expect(
      registerRunner(borg(), 'typo', { job_types: ['shell', 'docker-ish' as 'shell'] }),
    ).rejects.toMatchObject({ status: 400 });
  });
});
