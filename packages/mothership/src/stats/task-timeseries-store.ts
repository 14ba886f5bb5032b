import type { StatsTimeseries, TimeseriesPoint } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';

interface BucketRow {
  bucket: Date;
  queued: number;
  dequeued: number;
  held: number;
  released: number;
  finished: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  wait_p50: number | null;
  wait_p95: number | null;
}

interface NowRow {
  now: Date;
  depth: number;
  held: number;
  capacity: number;
}

/**
 * The overview's charts, computed from the tasks' own timestamps: there is no history table.
 * Every attempt contributes events (claimable at available_at, claimed at assigned_at, ended at
 * completed_at); one scan groups them into buckets, and the point-in-time series (queue depth,
 * tasks held) are walked back from their present values by undoing each bucket's events.
 *
 * The scan reads the window's attempts through the indexes on assigned_at and completed_at
 * (migration 0003). Approximations, on purpose:
 * a claim released back to pending (assigned → pending) is not an event, and utilisation divides
 * by the capacity of the runners online now, as capacity has no history.
 */
export async function taskTimeseries(db: Queryable, windowSeconds: number, buckets: number): Promise<StatsTimeseries> {
  const bucketSeconds = Math.max(1, Math.round(windowSeconds / buckets));
  const { rows: nowRows } = await db.query<NowRow>(
    `SELECT now() AS now,
            (SELECT count(*)::integer FROM tasks WHERE status = 'pending' AND available_at <= now()) AS depth,
            (SELECT count(*)::integer FROM tasks WHERE status IN ('assigned', 'running')) AS held,
            (SELECT coalesce(sum(max_concurrent_tasks), 0)::integer FROM runners WHERE status = 'online') AS capacity`,
  );
  const present = nowRows[0]!;
  const step = bucketSeconds * 1000;
  const lastStart = Math.floor(present.now.getTime() / step) * step;
  const firstStart = lastStart - (buckets - 1) * step;
  const since = new Date(firstStart);

  const { rows } = await db.query<BucketRow>(
    `SELECT date_bin(make_interval(secs => $3::integer), e.at, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS bucket,
            count(*) FILTER (WHERE e.kind = 'queued')::integer AS queued,
            count(*) FILTER (WHERE e.kind = 'dequeued')::integer AS dequeued,
            count(*) FILTER (WHERE e.kind = 'held')::integer AS held,
            count(*) FILTER (WHERE e.kind = 'released')::integer AS released,
            count(*) FILTER (WHERE e.kind = 'finished')::integer AS finished,
            count(*) FILTER (WHERE e.kind = 'finished' AND t.status = 'succeeded')::integer AS succeeded,
            count(*) FILTER (WHERE e.kind = 'finished' AND t.status IN ('failed', 'timed_out', 'lost'))::integer
              AS failed,
            count(*) FILTER (WHERE e.kind = 'finished' AND t.status = 'cancelled')::integer AS cancelled,
            percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM t.assigned_at - t.available_at))
              FILTER (WHERE e.kind = 'held') AS wait_p50,
            percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM t.assigned_at - t.available_at))
              FILTER (WHERE e.kind = 'held') AS wait_p95
       FROM tasks t
      CROSS JOIN LATERAL (VALUES
        ('queued', t.available_at),
        -- it left the queue when claimed, or when cancelled unclaimed; only if it had entered it
        ('dequeued', CASE WHEN t.available_at <= coalesce(t.assigned_at, t.completed_at)
                          THEN coalesce(t.assigned_at, t.completed_at) END),
        ('held', t.assigned_at),
        ('released', CASE WHEN t.assigned_at IS NOT NULL THEN t.completed_at END),
        ('finished', t.completed_at)
      ) AS e(kind, at)
      -- An attempt with an event in the window was claimed or ended in it, or is still waiting
      -- and became claimable in it: each term has its own index (migration 0003), so this reads
      -- the window's rows instead of every task ever run.
      WHERE ((t.status = 'pending' AND t.available_at >= $1) OR t.assigned_at >= $1 OR t.completed_at >= $1)
        AND e.at >= $1 AND e.at <= $2
      GROUP BY 1`,
    [since, present.now, bucketSeconds],
  );
  const byStart = new Map(rows.map((r) => [new Date(r.bucket).getTime(), r]));

  // Walk from the newest bucket back: the value at the end of bucket i is the value at the end
  // of bucket i + 1 with bucket i + 1's events undone.
  const points: TimeseriesPoint[] = new Array(buckets);
  let depth = present.depth;
  let held = present.held;
  for (let i = buckets - 1; i >= 0; i--) {
    const start = firstStart + i * step;
    const row = byStart.get(start);
    points[i] = {
      t: new Date(start).toISOString(),
      finished: row?.finished ?? 0,
      succeeded: row?.succeeded ?? 0,
      failed: row?.failed ?? 0,
      cancelled: row?.cancelled ?? 0,
      queue_depth: Math.max(0, depth),
      wait_p50_seconds: row?.wait_p50 ?? null,
      wait_p95_seconds: row?.wait_p95 ?? null,
      held_tasks: Math.max(0, held),
      utilisation: present.capacity > 0 ? Math.max(0, held) / present.capacity : null,
    };
    if (row) {
      depth += row.dequeued - row.queued;
      held += row.released - row.held;
    }
  }
  return { window_seconds: windowSeconds, bucket_seconds: bucketSeconds, capacity: present.capacity, points };
}
