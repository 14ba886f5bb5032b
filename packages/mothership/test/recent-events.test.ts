import { describe, expect, it } from 'vitest';

import { RecentEvents } from '../src/live/recent-events.ts';

/** The replica's buffer of recent events that WebSocket clients resume from. */
describe('RecentEvents', () => {
  const seqs = (recent: RecentEvents, from: number) => [...recent.after(from)].map((e) => e.seq);

  it('holds at most maxEvents: resuming from before the newest dropped one is refused', () => {
    const recent = new RecentEvents({ maxEvents: 3, maxBytes: 1 << 20 });
    const start = recent.position;
    for (let i = 0; i < 5; i++) recent.append(['jobs'], 'job.updated', '{}');
    expect(recent.resumable(start)).toEqual({ refused: 'too_old' });
    expect(recent.resumable(recent.idOf(1))).toEqual({ refused: 'too_old' });
    expect(recent.resumable(recent.idOf(2))).toEqual({ seq: 2 });
    expect(seqs(recent, 2)).toEqual([3, 4, 5]);
    expect(seqs(recent, 5)).toEqual([]);
  });

  it('holds at most maxBytes of data, and always the newest event', () => {
    const recent = new RecentEvents({ maxEvents: 100, maxBytes: 1_000 });
    for (let i = 0; i < 4; i++) recent.append(['task:t'], 'task.log', 'x'.repeat(300));
    // 300 bytes of data plus the overhead of each: two fit, the older two were dropped.
    expect(recent.resumable(recent.idOf(1))).toEqual({ refused: 'too_old' });
    expect(seqs(recent, 2)).toEqual([3, 4]);
    recent.append(['task:t'], 'task.log', 'x'.repeat(5_000));
    expect(seqs(recent, 4)).toEqual([5]);
  });

  it("refuses an id of another epoch, or past this replica's newest event", () => {
    const recent = new RecentEvents();
    recent.append(['runners'], 'runner.updated', '{}');
    const other = new RecentEvents();
    expect(other.epoch).not.toBe(recent.epoch);
    expect(recent.resumable(other.position)).toEqual({ refused: 'unknown_epoch' });
    expect(recent.resumable(recent.idOf(2))).toEqual({ refused: 'unknown_epoch' });
    expect(recent.resumable(recent.idOf(0))).toEqual({ seq: 0 });
  });
});
