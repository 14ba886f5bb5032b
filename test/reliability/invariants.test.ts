import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { storageDirOf } from '../../packages/mothership/src/config.ts';
import { useTestMothership } from '../test-mothership.ts';
import { InvariantChecker } from './harness/invariants.ts';

/**
 * The invariant checker has to be able to fail: a clean run passes it, then each invariant is
 * broken by hand in the database or the file store, and the checker must name it.
 */
describe('the invariant checker (I1–I8)', () => {
  const borg = useTestMothership();

  it('passes a clean run, then reports each invariant broken by hand', async () => {
    const checker = new InvariantChecker(() => borg().db, {
      storageDir: storageDirOf(borg().services.config),
      livenessWithinMs: 0,
    });
    const labels = { scope: 'invariants' };
    const runner = await borg().registerRunner({ labels, max_concurrent_tasks: 1 });
    const job = await borg().admin.createJob({
      name: 'inv',
      type: 'shell',
      command: 'true',
      labels,
      artifacts: ['out.txt'],
    });
    const [task] = (await runner.client.nextTasks(runner.id, { wait: 0 }))!.items;
    await runner.client.reportTaskStatus(task!.id, { status: 'running' });
    await runner.client.appendTaskLogs(task!.id, {
      seq: 0,
      lines: [0, 1, 2].map((n) => ({ stream: 'stdout' as const, message: `line ${n}` })),
    });
    const artifact = await runner.client.uploadArtifact(task!.id, 'out.txt', new Blob(['bytes']));
    await runner.client.reportTaskStatus(task!.id, { status: 'succeeded', exit_code: 0 });
    expect(await checker.check()).toEqual([]);

    const db = borg().db;
    const violations = async () => (await checker.check()).join('\n');

    // I2: a second success for the same element.
    await db.query(
      `INSERT INTO tasks (job_id, index, attempt, status, priority, labels, runner_id, exit_code, started_at, assigned_at, completed_at)
       SELECT job_id, index, attempt + 1, 'succeeded', priority, labels, runner_id, 0, now(), now(), now() FROM tasks WHERE id = $1`,
      [task!.id],
    );
    expect(await violations()).toMatch(/I2 more than one success/);
    await db.query('DELETE FROM tasks WHERE job_id = $1 AND attempt = 2', [job.id]);

    // I4: a terminal row changed.
    await db.query(`UPDATE tasks SET status = 'failed', exit_code = 1 WHERE id = $1`, [task!.id]);
    expect(await violations()).toMatch(/I4 terminal task .* changed status: succeeded -> failed/);
    await db.query(`UPDATE tasks SET status = 'succeeded', exit_code = 0 WHERE id = $1`, [task!.id]);
    await checker.check(); // (the restore is itself a change; remember the restored row)

    // I6: a hole in the log (its last chunk moved one line on; task_logs is a view of the chunks).
    await db.query(
      `UPDATE task_log_chunks SET first_line = first_line + 1
        WHERE task_id = $1 AND first_line = (SELECT max(first_line) FROM task_log_chunks WHERE task_id = $1)`,
      [task!.id],
    );
    expect(await violations()).toMatch(/I6 log lines not contiguous/);

    // I5: bytes on disk that no longer match the row.
    const blob = join(storageDirOf(borg().services.config), 'blobs', artifact.file_id.slice(0, 2), artifact.file_id);
    await writeFile(blob, 'other');
    expect(await violations()).toMatch(/I5 file .* bytes do not match its sha256/);
    await writeFile(
      join(storageDirOf(borg().services.config), 'blobs', artifact.file_id.slice(0, 2), 'orphan-key-0001'),
      'x',
    );
    expect(await violations()).toMatch(/I5 orphan blob/);

    // I1 and I7: a held task without a runner; an offline runner holding a task.
    const second = await borg().admin.createJob({ name: 'inv2', type: 'shell', command: 'true', labels });
    const [held] = (await runner.client.nextTasks(runner.id, { wait: 0 }))!.items;
    expect(held!.job_id).toBe(second.id);
    await db.query(`UPDATE runners SET status = 'offline' WHERE id = $1`, [runner.id]);
    expect(await violations()).toMatch(/I7 runner over capacity or offline while holding tasks/);
    await db.query(`UPDATE tasks SET runner_id = NULL WHERE id = $1`, [held!.id]);
    expect(await violations()).toMatch(/I1 holder mismatch/);

    // I8: a claimable task beside an idle, live, eligible runner.
    await db.query(`UPDATE tasks SET status = 'pending' WHERE id = $1`, [held!.id]);
    await db.query(`UPDATE runners SET status = 'online', last_heartbeat = now() WHERE id = $1`, [runner.id]);
    expect(await violations()).toMatch(/I8 claimable task left waiting beside an idle runner/);

    // I3: an artifact stored after the server took its attempt back.
    await db.query(
      `UPDATE tasks SET reason = 'runner_lost', completed_at = now() - interval '1 minute' WHERE id = $1`,
      [task!.id],
    );
    expect(await violations()).toMatch(/I3 artifact stored after the server ended its attempt/);
  });
});
