import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import type { Queryable } from '../../../packages/mothership/src/db/database.ts';

/**
 * The reliability plan's invariants I1–I8, checked over the database (and the file store) after
 * a scenario. Each check is one SQL statement that returns the rows breaking it, so a violation
 * names the task or runner at fault. Terminal rows are remembered between calls of `check()`:
 * a later call that finds one changed reports I4 (and I3 for writes about an attempt the server
 * took back).
 */
export interface InvariantOptions {
  /** The mothership's storage directory (blobs/ and tmp/), for I5. Skipped when absent. */
  storageDir?: string;
  /**
   * I8 (liveness) only means something while real solders poll: with it, a claimable task and an
   * idle eligible runner may coexist for at most this long before it counts as a violation.
   */
  livenessWithinMs?: number;
}

interface TerminalRow {
  id: string;
  status: string;
  exit_code: number | null;
  reason: string | null;
  runner_id: string | null;
  completed_at: Date;
  log_batches: number;
  artifacts: number;
}

const SERVER_ENDED = `t.reason IN ('runner_lost', 'runner_restarted', 'server_timeout')`;

export class InvariantChecker {
  private readonly terminal = new Map<string, TerminalRow>();

  constructor(
    private readonly db: () => Queryable,
    private readonly options: InvariantOptions = {},
  ) {}

  /** Every violation found, as readable lines; empty when all invariants hold. */
  async check(): Promise<string[]> {
    const found: string[] = [];
    const db = this.db();
    const add = (rule: string, rows: unknown[]) => {
      for (const row of rows) found.push(`${rule}: ${JSON.stringify(row)}`);
    };

    // I1: at most one live attempt per element; a held task names its runner, a pending one none.
    add(
      'I1 two live attempts of one element',
      await rows(
        db,
        `SELECT job_id, index, count(*)::integer AS live FROM tasks
          WHERE status IN ('blocked', 'pending', 'assigned', 'running') GROUP BY job_id, index HAVING count(*) > 1`,
      ),
    );
    add(
      'I1 holder mismatch',
      await rows(
        db,
        `SELECT id, status, runner_id FROM tasks
          WHERE (status IN ('assigned', 'running') AND runner_id IS NULL) OR (status = 'pending' AND runner_id IS NOT NULL)`,
      ),
    );

    // I2: one accepted result per element: at most one success, none after it, and it ran somewhere.
    add(
      'I2 more than one success',
      await rows(
        db,
        `SELECT job_id, index, count(*)::integer AS successes FROM tasks
          WHERE status = 'succeeded' GROUP BY job_id, index HAVING count(*) > 1`,
      ),
    );
    add(
      'I2 attempt after a success',
      await rows(
        db,
        `SELECT later.id, later.attempt FROM tasks ok JOIN tasks later
            ON later.job_id = ok.job_id AND later.index = ok.index AND later.attempt > ok.attempt
          WHERE ok.status = 'succeeded'`,
      ),
    );
    add(
      'I2 success without a runner that started it',
      await rows(
        db,
        `SELECT id FROM tasks WHERE status = 'succeeded' AND (runner_id IS NULL OR started_at IS NULL OR exit_code IS DISTINCT FROM 0)`,
      ),
    );
    add(
      'I2 job status disagrees with its tasks',
      await rows(
        db,
        `SELECT j.id, j.status FROM jobs j
          WHERE j.status = 'succeeded' AND EXISTS (
            SELECT 1 FROM tasks t WHERE t.job_id = j.id AND t.attempt = (
              SELECT max(attempt) FROM tasks l WHERE l.job_id = t.job_id AND l.index = t.index)
            AND t.status <> 'succeeded')`,
      ),
    );

    // I3: nothing stored about an attempt after the server took it back.
    add(
      'I3 artifact stored after the server ended its attempt',
      await rows(
        db,
        `SELECT a.id, a.task_id FROM artifacts a JOIN tasks t ON t.id = a.task_id
          WHERE ${SERVER_ENDED} AND a.created_at > t.completed_at`,
      ),
    );
    add(
      'I3 task started by a runner it was not assigned to',
      await rows(
        db,
        `SELECT id FROM tasks WHERE started_at IS NOT NULL AND (assigned_at IS NULL OR started_at < assigned_at)`,
      ),
    );

    // I4 (and I3 for logs): a terminal row never changes, and one the server ended gains no writes.
    const terminal = await rows<TerminalRow>(
      db,
      `SELECT t.id, t.status, t.exit_code, t.reason, t.runner_id, t.completed_at, t.log_batches,
              (SELECT count(*)::integer FROM artifacts a WHERE a.task_id = t.id) AS artifacts,
              ${SERVER_ENDED} AS server_ended
         FROM tasks t WHERE t.status IN ('succeeded', 'failed', 'cancelled', 'timed_out', 'lost', 'skipped')`,
    );
    const seen = new Set<string>();
    for (const row of terminal as Array<TerminalRow & { server_ended: boolean }>) {
      seen.add(row.id);
      const before = this.terminal.get(row.id);
      if (before) {
        const fields = ['status', 'exit_code', 'reason', 'runner_id'] as const;
        for (const field of fields) {
          if (before[field] !== row[field])
            found.push(`I4 terminal task ${row.id} changed ${field}: ${before[field]} -> ${row[field]}`);
        }
        if (+before.completed_at !== +row.completed_at) found.push(`I4 terminal task ${row.id} changed completed_at`);
        if (row.server_ended && (before.log_batches !== row.log_batches || before.artifacts !== row.artifacts)) {
          found.push(`I3 task ${row.id} (${row.reason}) gained logs or artifacts after the server ended it`);
        }
      }
      this.terminal.set(row.id, row);
    }
    for (const id of this.terminal.keys()) if (!seen.has(id)) found.push(`I4 terminal task ${id} disappeared`);

    // I5: artifact and file rows match bytes on disk; no blob without a row.
    if (this.options.storageDir) found.push(...(await this.checkFiles(db, this.options.storageDir)));

    // I6: each task's log is lines 0..n-1 with no gap, and n is what the task row counts.
    add(
      'I6 log lines not contiguous or not counted',
      await rows(
        db,
        `SELECT t.id, t.log_lines, l.n, l.lo, l.hi FROM tasks t
           JOIN (SELECT task_id, count(*)::integer AS n, min(line_no) AS lo, max(line_no) AS hi
                   FROM task_logs GROUP BY task_id) l ON l.task_id = t.id
          WHERE l.n <> t.log_lines OR l.lo <> 0 OR l.hi <> l.n - 1`,
      ),
    );
    add(
      'I6 log lines counted but missing',
      await rows(
        db,
        `SELECT t.id, t.log_lines FROM tasks t
          WHERE t.log_lines > 0 AND NOT EXISTS (SELECT 1 FROM task_logs l WHERE l.task_id = t.id)`,
      ),
    );

    // I7: no runner holds more than it may, and an offline runner holds nothing.
    add(
      'I7 runner over capacity or offline while holding tasks',
      await rows(
        db,
        `SELECT r.id, r.status, r.max_concurrent_tasks, count(t.id)::integer AS held FROM runners r
           JOIN tasks t ON t.runner_id = r.id AND t.status IN ('assigned', 'running')
          GROUP BY r.id HAVING count(t.id) > r.max_concurrent_tasks OR (r.status = 'offline' AND count(t.id) > 0)`,
      ),
    );

    // I8: no claimable task waits while an idle, eligible, live runner could take it.
    if (this.options.livenessWithinMs !== undefined) {
      add(
        'I8 claimable task left waiting beside an idle runner',
        await this.starved(db, this.options.livenessWithinMs),
      );
    }
    return found;
  }

  /** Terminal rows seen so far (for scenarios that assert on them). */
  get terminalCount(): number {
    return this.terminal.size;
  }

  private starved(db: Queryable, withinMs: number): Promise<unknown[]> {
    return rows(
      db,
      `SELECT t.id AS task_id, r.id AS runner_id FROM tasks t JOIN jobs j ON j.id = t.job_id
         JOIN runners r ON r.status = 'online' AND NOT r.draining AND r.labels @> t.labels
                       AND r.last_heartbeat > now() - interval '10 seconds'
        WHERE t.status = 'pending' AND NOT j.paused
          AND t.available_at < now() - make_interval(secs => $1::double precision / 1000)
          -- A job at its max_parallel leaves its other elements waiting on purpose.
          AND (j.max_parallel IS NULL OR (SELECT count(*) FROM tasks h
                WHERE h.job_id = j.id AND h.status IN ('assigned', 'running')) < j.max_parallel)
          AND (SELECT count(*) FROM tasks h WHERE h.runner_id = r.id AND h.status IN ('assigned', 'running'))
              < r.max_concurrent_tasks
        LIMIT 20`,
      [withinMs],
    );
  }

  private async checkFiles(db: Queryable, storageDir: string): Promise<string[]> {
    const found: string[] = [];
    const files = await rows<{ id: string; storage_key: string; size: string; sha256: string; artifact: boolean }>(
      db,
      `SELECT f.id, f.storage_key, f.size::text AS size, f.sha256,
              EXISTS (SELECT 1 FROM artifacts a WHERE a.file_id = f.id) AS artifact FROM files f`,
    );
    const keys = new Set<string>();
    for (const file of files) {
      keys.add(file.storage_key);
      const path = join(storageDir, 'blobs', file.storage_key.slice(0, 2), file.storage_key);
      const info = await stat(path).catch(() => null);
      if (!info) {
        found.push(`I5 file ${file.id} has no bytes on disk`);
        continue;
      }
      if (info.size !== Number(file.size))
        found.push(`I5 file ${file.id} is ${info.size} bytes, row says ${file.size}`);
      else if ((await sha256Of(path)) !== file.sha256) found.push(`I5 file ${file.id} bytes do not match its sha256`);
    }
    for (const dir of await readdir(join(storageDir, 'blobs')).catch(() => [])) {
      for (const key of await readdir(join(storageDir, 'blobs', dir)).catch(() => [])) {
        if (!keys.has(key)) found.push(`I5 orphan blob ${dir}/${key} (no file row)`);
      }
    }
    return found;
  }
}

async function rows<R = Record<string, unknown>>(db: Queryable, sql: string, params: unknown[] = []): Promise<R[]> {
  return (await db.query<R>(sql, params)).rows;
}

function sha256Of(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', reject);
  });
}

/** The tmp/ files a storage directory holds (uploads in progress or left by a crash). */
export async function tmpFiles(storageDir: string): Promise<string[]> {
  return readdir(join(storageDir, 'tmp')).catch(() => []);
}
