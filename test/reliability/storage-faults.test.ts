import { randomBytes, randomUUID } from 'node:crypto';
import { request } from 'node:http';

import { describe, expect, it } from 'vitest';

import { storageDirOf } from '../../packages/mothership/src/config.ts';
import { type TestRunner, useTestMothership } from '../test-mothership.ts';
import { eventually } from '../test-solder.ts';
import { FaultyBlobStorage } from './harness/faulty-blob-storage.ts';
import { InvariantChecker, tmpFiles } from './harness/invariants.ts';

/**
 * The file store under faults (F2, F9 and F14 of the plan, in process): an upload cut off
 * half-way and a disk that fills up mid-upload leave no row and no file outside tmp/, and a
 * tmp file is removed at once; the mothership keeps serving; an artifact finished after the
 * server took its attempt back is refused and not stored.
 */
describe('file store faults (F2, F9, F14)', () => {
  let disk!: FaultyBlobStorage;
  const borg = useTestMothership({ wrap: { wrapStorage: (storage) => (disk = new FaultyBlobStorage(storage)) } });
  const storageDir = () => storageDirOf(borg().services.config);
  const checker = new InvariantChecker(() => borg().db, {
    get storageDir() {
      return storageDir();
    },
  });

  async function heldTask(): Promise<{ runner: TestRunner; taskId: string; jobId: string }> {
    const labels = { scope: randomUUID() };
    const runner = await borg().registerRunner({ labels, device_id: `device-${randomUUID()}` });
    const job = await borg().admin.createJob({
      name: 'store',
      type: 'shell',
      command: 'true',
      labels,
      artifacts: ['*'],
    });
    const [task] = (await runner.client.nextTasks(runner.id, { wait: 0 }))!.items;
    await runner.client.reportTaskStatus(task!.id, { status: 'running' });
    return { runner, taskId: task!.id, jobId: job.id };
  }

  /**
   * Streams a multipart artifact upload of `size` bytes by hand, so a test can stop after
   * `sendBytes` (the client dies: the socket is destroyed) or pause half-way (`midway`).
   */
  function upload(
    runner: TestRunner,
    taskId: string,
    path: string,
    content: Buffer,
    options: { cutAfter?: number; midway?: () => Promise<void> } = {},
  ): Promise<{ status: number; body: string } | 'cut'> {
    const boundary = `----borg${randomBytes(8).toString('hex')}`;
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="task_id"\r\n\r\n${taskId}\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="path"\r\n\r\n${path}\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${path}"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n',
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const url = new URL('/api/v1/artifacts/upload', borg().url);
    const headers = {
      authorization: `Bearer ${runner.token}`,
      'content-type': `multipart/form-data; boundary=${boundary}`,
    };
    const half = options.cutAfter ?? Math.floor(content.length / 2);
    if (options.cutAfter !== undefined) {
      // The client dies mid-file: the socket is destroyed without a proper end.
      const req = request(url, { method: 'POST', headers });
      const outcome = new Promise<{ status: number; body: string } | 'cut'>((resolve) => {
        req.on('error', () => resolve('cut'));
        req.on('response', (response) => resolve({ status: response.statusCode!, body: '' }));
      });
      req.write(Buffer.concat([head, content.subarray(0, half)]));
      // Once its tmp file exists the server is storing the file's bytes.
      return eventually(async () => (await tmpFiles(storageDir())).length > 0, 10_000, 'the server to store the upload')
        .finally(() => req.destroy())
        .then(() => outcome);
    }
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(Buffer.concat([head, content.subarray(0, half)]));
        await options.midway?.();
        controller.enqueue(Buffer.concat([content.subarray(half), tail]));
        controller.close();
      },
    });
    return fetch(url, { method: 'POST', headers, body, duplex: 'half' } as RequestInit).then(
      async (response) => ({ status: response.status, body: await response.text() }),
      (error: unknown) => ({ status: 0, body: String(error) }),
    );
  }

  const artifactRows = async (taskId: string) =>
    (await borg().db.query('SELECT 1 FROM artifacts WHERE task_id = $1', [taskId])).rows.length;

  it('an upload cut off half-way (the solder died) leaves no row, no blob and, soon, no tmp file (F2, F9)', async () => {
    const { runner, taskId } = await heldTask();
    const content = randomBytes(2 * 1024 * 1024);
    expect(await upload(runner, taskId, 'big.bin', content, { cutAfter: 1024 * 1024 })).toBe('cut');
    await eventually(async () => (await tmpFiles(storageDir())).length === 0, 10_000, 'the tmp file to go');
    expect(await artifactRows(taskId)).toBe(0);
    expect(await checker.check()).toEqual([]);

    // Sent again whole, it is stored; the same bytes once more are acknowledged, not duplicated.
    const first = await upload(runner, taskId, 'big.bin', content);
    const again = await upload(runner, taskId, 'big.bin', content);
    expect(first).toMatchObject({ status: 201 });
    expect(again).toMatchObject({ status: 200 });
    expect(await artifactRows(taskId)).toBe(1);
    expect(await checker.check()).toEqual([]);
  });

  it('a disk that fills mid-upload answers 507, keeps no row or file, and the mothership keeps serving (F14)', async () => {
    const { runner, taskId, jobId } = await heldTask();
    disk.fillAfter(256 * 1024);
    const answer = await upload(runner, taskId, 'full.bin', randomBytes(1024 * 1024));
    expect(answer).toMatchObject({ status: 507 });
    expect(JSON.parse((answer as { body: string }).body).error.code).toBe('INSUFFICIENT_STORAGE');
    expect(await tmpFiles(storageDir())).toEqual([]);
    expect(await artifactRows(taskId)).toBe(0);

    // Everything that does not need the disk still works while it is full.
    await runner.client.heartbeat(runner.id, { task_ids: [taskId] });
    await runner.client.appendTaskLogs(taskId, { seq: 0, lines: [{ stream: 'stdout', message: 'still here' }] });
    expect((await borg().admin.getJob(jobId)).tasks[0]!.status).toBe('running');

    disk.heal();
    expect(await upload(runner, taskId, 'full.bin', randomBytes(1024))).toMatchObject({ status: 201 });
    await runner.client.reportTaskStatus(taskId, { status: 'succeeded', exit_code: 0 });
    expect(await checker.check()).toEqual([]);
  });

  it('an artifact whose upload ends after the server took the attempt back is refused and not stored (I3)', async () => {
    const { runner, taskId, jobId } = await heldTask();
    const answer = await upload(runner, taskId, 'late.bin', randomBytes(512 * 1024), {
      // Half-way through the upload the runner re-registers (a restart): the attempt is lost.
      midway: async () => {
        // Only once the server is storing the bytes (past every check made at the start).
        await eventually(async () => (await tmpFiles(storageDir())).length > 0, 10_000, 'the upload to begin');
        await borg().client(borg().registrationToken).register({
          device_id: runner.deviceId,
          name: 'again',
          hostname: 'h',
          os: 'linux',
          arch: 'x64',
          max_concurrent_tasks: 1,
          labels: {},
          resources: {},
        });
        expect((await borg().admin.getJob(jobId)).tasks[0]).toMatchObject({
          status: 'lost',
          reason: 'runner_restarted',
        });
      },
    });
    expect(answer).toMatchObject({ status: 409 });
    expect(await artifactRows(taskId)).toBe(0);
    expect(await checker.check()).toEqual([]);
  });
});
