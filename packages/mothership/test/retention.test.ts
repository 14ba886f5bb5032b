import { randomUUID } from 'node:crypto';
import { access } from 'node:fs/promises';
import { join } from 'node:path';

import { BorgApiError, type CreateJobRequest, type FileInfo, type Job } from '@borg/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type TestMothership, type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';
import { TestObjectStore } from '../../../test/test-object-store.ts';
import { storageDirOf } from '../src/config.ts';
import { blobPathOf } from '../src/files/blob-storage.ts';
import { parseStorageUrl } from '../src/files/storage-url.ts';

/**
 * Issue 17, retention: DELETE /jobs/:id and the maintenance leader's sweep of ended jobs past
 * their retention (with attempts, logs and artifacts), old artifacts, uploads no job uses and
 * runners long offline. Durations are seconds long; each test waits for its condition by
 * sweeping again until it holds (expect.poll), never by sleeping.
 */

async function uploadText(borg: TestMothership, text: string): Promise<FileInfo> {
  const form = new FormData();
  form.append('file', new Blob([text]), 'input.txt');
  const response = await fetch(`${borg.url}/api/v1/files`, {
    method: 'POST',
    headers: { authorization: `Bearer ${borg.adminToken}` },
    body: form,
  });
  expect(response.status).toBe(201);
  return (await response.json()) as FileInfo;
}

async function blobExists(borg: TestMothership, fileId: string): Promise<boolean> {
  const key = (await borg.db.query<{ storage_key: string }>('SELECT storage_key FROM files WHERE id = $1', [fileId]))
    .rows[0]?.storage_key;
  return access(join(storageDirOf(borg.services.config), blobPathOf(key ?? fileId))).then(
    () => true,
    () => false,
  );
}

async function rowsOf(borg: TestMothership, jobId: string) {
  const count = async (sql: string) => (await borg.db.query<{ n: number }>(sql, [jobId])).rows[0]!.n;
  return {
    jobs: await count('SELECT count(*)::integer AS n FROM jobs WHERE id = $1'),
    tasks: await count('SELECT count(*)::integer AS n FROM tasks WHERE job_id = $1'),
    logChunks: await count(
      'SELECT count(*)::integer AS n FROM task_log_chunks c JOIN tasks t ON t.id = c.task_id WHERE t.job_id = $1',
    ),
    artifacts: await count(
      'SELECT count(*)::integer AS n FROM artifacts a JOIN tasks t ON t.id = a.task_id WHERE t.job_id = $1',
    ),
  };
}

/** A scope of jobs and one runner that only they use. */
function scope(borg: () => TestMothership) {
  const labels = { scope: randomUUID() };
  let runner: TestRunner | undefined;
  /** Tasks claimed so far, by job: a claim takes every task of the scope that is waiting. */
  const claimed = new Map<string, { id: string }>();
  const runnerOf = async () => (runner ??= await borg().registerRunner({ max_concurrent_tasks: 50, labels }));
  const submit = (name: string, extra: Partial<CreateJobRequest> = {}) =>
    borg().admin.createJob({ name, command: 'true', ...extra, labels });
  return {
    submit,
    runner: runnerOf,
    /** Runs the job's one task to its end on the scope's runner: a log line and, if asked, an artifact. */
    async run(job: Job, options: { artifact?: string; status?: 'succeeded' | 'failed' } = {}) {
      const r = await runnerOf();
      if (!claimed.has(job.id)) {
        const next = await r.client.nextTasks(r.id, { wait: 0, max: 50 });
        for (const t of next?.items ?? []) claimed.set(t.job_id, { id: t.id });
      }
      const task = claimed.get(job.id);
      expect(task, `a task of ${job.name} to claim`).toBeDefined();
      await r.client.reportTaskStatus(task!.id, { status: 'running' });
      await r.client.appendTaskLogs(task!.id, {
        seq: 0,
        lines: [{ stream: 'stdout', message: `hello from ${job.name}` }],
      });
      let artifact: string | undefined;
      if (options.artifact) {
        const form = new FormData();
        form.append('task_id', task!.id);
        form.append('path', 'out.txt');
        form.append('file', new Blob([options.artifact]), 'out.txt');
        const response = await fetch(`${borg().url}/api/v1/artifacts/upload`, {
          method: 'POST',
          headers: { authorization: `Bearer ${r.token}` },
          body: form,
        });
        expect(response.status).toBe(201);
        artifact = ((await response.json()) as { file_id: string }).file_id;
      }
      const status = options.status ?? 'succeeded';
      await r.client.reportTaskStatus(task!.id, { status, exit_code: status === 'succeeded' ? 0 : 1 });
      return { taskId: task!.id, artifactFileId: artifact };
    },
  };
}

/** Long enough for a one-second retention to pass, and sweeps to catch up on a loaded machine. */
const WAIT = { timeout: 15_000, interval: 200 };

const exists = async (borg: TestMothership, id: string) =>
  borg.admin.getJob(id).then(
    () => true,
    (error: unknown) => {
      if (error instanceof BorgApiError && error.status === 404) return false;
      throw error;
    },
  );

describe('retention: BORG_RETENTION_JOBS 1s, BORG_RETENTION_FILES 1s, BORG_RETENTION_RUNNERS 1s', () => {
  const borg = useTestMothership({
    config: { retentionJobsSeconds: '1s', retentionFilesSeconds: '1s', retentionRunnersSeconds: '1s' },
  });
  const sweep = () => borg().services.retention.sweep();

  it('deletes an ended job past its retention with its attempts, logs and artifacts, and frees the blob', async () => {
    const { submit, run } = scope(borg);
    const job = await submit('old-build', { artifacts: ['out.txt'] });
    const { artifactFileId } = await run(job, { artifact: 'built' });
    expect(await rowsOf(borg(), job.id)).toEqual({ jobs: 1, tasks: 1, logChunks: 1, artifacts: 1 });
    expect(await blobExists(borg(), artifactFileId!)).toBe(true);

    const heard: string[][] = [];
    const off = borg().mothership.bus.on('jobs.deleted', (event) => heard.push(event.ids));
    await expect
      .poll(async () => {
        await sweep();
        return exists(borg(), job.id);
      }, WAIT)
      .toBe(false);
    off();

    expect(await rowsOf(borg(), job.id)).toEqual({ jobs: 0, tasks: 0, logChunks: 0, artifacts: 0 });
    expect((await borg().db.query('SELECT 1 FROM files WHERE id = $1', [artifactFileId])).rows).toEqual([]);
    expect(await blobExists(borg(), artifactFileId!)).toBe(false);
    expect(heard.flat()).toContain(job.id);
  });

  it('keeps a job that has not ended, a pinned one, one with a longer retention, and one a blocked job waits for', async () => {
    const { submit, run } = scope(borg);
    const waiting = await submit('never-claimed');
    const pinned = await submit('pinned', { pinned: true });
    await run(pinned);
    const longer = await submit('longer', { retention: '1h' });
    await run(longer);
    const upstream = await submit('upstream');
    await run(upstream, { status: 'failed' });
    // Waits for the upstream to succeed; it is not ended, so the upstream (and its artifacts) stay.
    const downstream = await submit('downstream', { depends_on: [{ job_id: upstream.id, condition: 'finished' }] });
    const doomed = await submit('doomed');
    await run(doomed);

    await expect
      .poll(async () => {
        await sweep();
        return exists(borg(), doomed.id);
      }, WAIT)
      .toBe(false);
    for (const job of [waiting, pinned, longer, upstream]) expect(await exists(borg(), job.id), job.name).toBe(true);
    expect((await borg().admin.getJob(pinned.id)).pinned).toBe(true);
    expect((await borg().admin.getJob(longer.id)).retention).toBe('1h');
    // The downstream was released when the upstream failed ("finished"); it is queued, not ended.
    expect((await borg().admin.getJob(downstream.id)).completed_at).toBeNull();
  });

  it('keeps the newest keep_last jobs of a name whatever their age, and deletes the older ones', async () => {
    const { submit, run } = scope(borg);
    const name = `nightly-${randomUUID().slice(0, 8)}`;
    const jobs: Job[] = [];
    for (let i = 0; i < 4; i++) {
      const job = await submit(name, { keep_last: 2 });
      await run(job);
      jobs.push(job);
    }
    await expect
      .poll(async () => {
        await sweep();
        return Promise.all(jobs.map((j) => exists(borg(), j.id)));
      }, WAIT)
      .toEqual([false, false, true, true]);
  });

  it('keeps an uploaded file while any job uses it, and frees it once none has for BORG_RETENTION_FILES', async () => {
    const { submit, run } = scope(borg);
    const file = await uploadText(borg(), 'shared input');
    const first = await submit('first', { files: [{ file_id: file.id, path: 'in.txt' }], pinned: true });
    const second = await submit('second', { files: [{ file_id: file.id, path: 'in.txt' }] });
    await run(first);
    await run(second);

    await expect
      .poll(async () => {
        await sweep();
        return exists(borg(), second.id);
      }, WAIT)
      .toBe(false);
    // The pinned first job still uses it: the file and its bytes stay, sweep after sweep.
    await sweep();
    expect((await borg().admin.getFile(file.id)).sha256).toBe(file.sha256);
    expect(await blobExists(borg(), file.id)).toBe(true);

    await borg().admin.updateJob(first.id, { pinned: false });
    await borg().admin.deleteJob(first.id);
    await expect
      .poll(async () => {
        await sweep();
        return blobExists(borg(), file.id);
      }, WAIT)
      .toBe(false);
    await expect(borg().admin.getFile(file.id)).rejects.toMatchObject({ status: 404 });
  });

  it('keeps an artifact another job takes as an input file after its own job is deleted', async () => {
    const { submit, run } = scope(borg);
    const producer = await submit('producer', { artifacts: ['out.txt'] });
    const { artifactFileId } = await run(producer, { artifact: 'model weights' });
    const consumer = await submit('consumer', { files: [{ file_id: artifactFileId!, path: 'weights' }], pinned: true });

    await borg().admin.deleteJob(producer.id);
    expect(await blobExists(borg(), artifactFileId!)).toBe(true);
    expect((await borg().admin.getFile(artifactFileId!)).size).toBe('model weights'.length);

    await run(consumer);
    await borg().admin.updateJob(consumer.id, { pinned: false });
    await borg().admin.deleteJob(consumer.id);
    expect(await blobExists(borg(), artifactFileId!)).toBe(false);
  });

  it('retires a runner offline past BORG_RETENTION_RUNNERS; its device registers again as a new runner', async () => {
    const runner = await borg().registerRunner({ labels: { scope: randomUUID() } });
    await borg().db.query("UPDATE runners SET status = 'offline' WHERE id = $1", [runner.id]);
    await expect
      .poll(async () => {
        await sweep();
        return (await borg().admin.listRunners()).items.some((r) => r.id === runner.id);
      }, WAIT)
      .toBe(false);
    await expect(runner.client.heartbeat(runner.id, {})).rejects.toMatchObject({ status: 401 });

    const again = await borg().registerRunner({ device_id: runner.deviceId });
    expect(again.id).not.toBe(runner.id);
    expect((await borg().admin.getRunner(again.id)).status).toBe('online');
  });
});

describe('DELETE /jobs/:id and PATCH of retention (BORG_RETENTION_JOBS off)', () => {
  const borg = useTestMothership({ config: { retentionJobsSeconds: 'off' } });

  it('refuses a job that has not ended, a pinned one and one an unfinished job depends on, with 409 and a reason', async () => {
    const { submit, run } = scope(borg);
    const queued = await submit('queued');
    await expect(borg().admin.deleteJob(queued.id)).rejects.toMatchObject({
      status: 409,
      message: expect.stringContaining('cancel it'),
    });

    const pinned = await submit('pinned', { pinned: true });
    await run(pinned);
    await expect(borg().admin.deleteJob(pinned.id)).rejects.toMatchObject({
      status: 409,
      message: expect.stringContaining('pinned'),
    });

    const upstream = await submit('upstream');
    await run(upstream);
    const downstream = await submit('downstream', { inputs_from: [{ job_id: upstream.id, artifacts: '*' }] });
    await expect(borg().admin.deleteJob(upstream.id)).rejects.toMatchObject({
      status: 409,
      message: expect.stringContaining(downstream.id),
    });
    for (const job of [queued, pinned, upstream, downstream]) expect(await exists(borg(), job.id)).toBe(true);
    await expect(borg().admin.deleteJob(randomUUID())).rejects.toMatchObject({ status: 404 });
  });

  it('lets only an operator or the submitting token delete a job, and records the deletion in the audit log', async () => {
    const { submit, run } = scope(borg);
    const job = await submit('mine');
    await run(job);
    const { token: other } = await borg().admin.createToken({ name: 'someone-else', role: 'submitter' });
    const { token: viewer } = await borg().admin.createToken({ name: 'wallboard', role: 'viewer' });
    await expect(borg().client(viewer).deleteJob(job.id)).rejects.toMatchObject({ status: 403 });
    await expect(borg().client(other).deleteJob(job.id)).rejects.toMatchObject({ status: 403 });
    expect(await exists(borg(), job.id)).toBe(true);

    const deleted = await borg().admin.deleteJob(job.id);
    expect(deleted).toMatchObject({ id: job.id, status: 'succeeded' });
    expect(await exists(borg(), job.id)).toBe(false);
    await expect(borg().admin.deleteJob(job.id)).rejects.toMatchObject({ status: 404 });
    expect(await borg().admin.metrics()).toMatch(/^borg_retention_deleted_total\{kind="jobs"\} [1-9]/m);
    await expect
      .poll(async () =>
        (await borg().admin.listAudit({ action: 'job.delete' })).items.map((e) => [e.object?.id, e.outcome]),
      )
      .toContainEqual([job.id, 'ok']);
  });

  it('changes pinned, retention and keep_last with PATCH, and clears them with null', async () => {
    const { submit } = scope(borg);
    const job = await submit('kept', { retention: '90m' });
    expect(job).toMatchObject({ retention: '1h30m', pinned: false, keep_last: null });
    const changed = await borg().admin.updateJob(job.id, { pinned: true, retention: '30d', keep_last: 5 });
    expect(changed).toMatchObject({ retention: '30d', pinned: true, keep_last: 5 });
    const cleared = await borg().admin.updateJob(job.id, { retention: null, keep_last: null });
    expect(cleared).toMatchObject({ retention: null, pinned: true, keep_last: null });
    await expect(borg().admin.updateJob(job.id, { retention: '0s' })).rejects.toMatchObject({ status: 400 });
    await expect(borg().admin.createJob({ name: 'x', command: 'true', retention: 'forever' })).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('retention'),
    });
  });

  it('still sweeps a job with a retention of its own while the default is off', async () => {
    const { submit, run } = scope(borg);
    const kept = await submit('kept-for-ever');
    await run(kept);
    const short = await submit('short', { retention: '1s' });
    await run(short);
    await expect
      .poll(async () => {
        await borg().services.retention.sweep();
        return exists(borg(), short.id);
      }, WAIT)
      .toBe(false);
    expect(await exists(borg(), kept.id)).toBe(true);
  });
});

describe('retention: BORG_RETENTION_ARTIFACTS 1s, jobs kept', () => {
  const borg = useTestMothership({ config: { retentionJobsSeconds: 'off', retentionArtifactsSeconds: '1s' } });

  it('deletes old artifacts and their blobs but keeps the job, its attempts and its log', async () => {
    const { submit, run } = scope(borg);
    const job = await submit('with-artifact', { artifacts: ['out.txt'] });
    const { artifactFileId } = await run(job, { artifact: 'report' });
    await expect
      .poll(async () => {
        await borg().services.retention.sweep();
        return (await rowsOf(borg(), job.id)).artifacts;
      }, WAIT)
      .toBe(0);
    expect(await rowsOf(borg(), job.id)).toEqual({ jobs: 1, tasks: 1, logChunks: 1, artifacts: 0 });
    expect(await blobExists(borg(), artifactFileId!)).toBe(false);
  });
});

describe('retention on S3 storage (BORG_STORAGE_URL)', () => {
  let objectStore: TestObjectStore | undefined;
  const config: Record<string, unknown> = { retentionJobsSeconds: '1s' };
  // Registered before useTestMothership's own beforeAll, so the URL is in place when it starts.
  beforeAll(async () => {
    objectStore = await TestObjectStore.start();
    config.storageUrl = objectStore.url(`retention-${randomUUID()}`);
  });
  afterAll(async () => {
    await objectStore?.close();
  });
  const borg = useTestMothership({ config });

  it("removes an expired job's artifact from the bucket, and nothing else", async () => {
    const { prefix } = parseStorageUrl(String(config.storageUrl));
    const blobs = async () => (await objectStore!.keys(prefix)).filter((key) => key.startsWith(`${prefix}blobs/`));
    const { submit, run } = scope(borg);
    const kept = await submit('kept', { artifacts: ['out.txt'], pinned: true });
    const { artifactFileId: keptFile } = await run(kept, { artifact: 'kept bytes' });
    const job = await submit('expires', { artifacts: ['out.txt'] });
    const { artifactFileId } = await run(job, { artifact: 'expiring bytes' });
    expect((await blobs()).filter((key) => key.endsWith(artifactFileId!))).toHaveLength(1);

    await expect
      .poll(async () => {
        await borg().services.retention.sweep();
        return exists(borg(), job.id);
      }, WAIT)
      .toBe(false);
    const left = await blobs();
    expect(left.filter((key) => key.endsWith(artifactFileId!))).toEqual([]);
    expect(left.filter((key) => key.endsWith(keptFile!))).toHaveLength(1);
  });
});
