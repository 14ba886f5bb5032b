import type { BorgClient, LogLine, Task } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { countLogLines, TaskLogReader } from '../src/task-log-reader.ts';

const line = (index: number): LogLine => ({
  index,
  stream: 'stdout',
  message: `line ${index}`,
  timestamp: '2026-01-01T00:00:00.000Z',
});

/** A client whose task log is `stored` lines long, answering pages like the mothership; it counts requests. */
function fakeClient(stored: () => number) {
  const calls: Array<{ after: number; limit: number }> = [];
  const client = {
    async getTaskLogs(_id: string, { after = -1, limit = 1000 }: { after?: number; limit?: number }) {
      calls.push({ after, limit });
      const items: LogLine[] = [];
      for (let i = after + 1; i < stored() && items.length < limit; i++) items.push(line(i));
      return { items, next_cursor: items.length === limit ? String(items.at(-1)!.index) : null };
    },
  } as unknown as BorgClient;
  return { client, calls };
}

const task = { id: 't1', job_id: 'j1', index: 0, attempt: 1 } as Task;

describe('TaskLogReader: every line once, in order, from REST and events however they interleave', () => {
  it('pages through a long log', async () => {
    const { client } = fakeClient(() => 2500);
    const seen: number[] = [];
    await new TaskLogReader(task, client, (_t, l) => seen.push(l.index)).catchUp();
    expect(seen).toEqual(Array.from({ length: 2500 }, (_, i) => i));
  });

  it('asks for the next page while it prints one: a small first page, then the largest the API gives', async () => {
    const { client, calls } = fakeClient(() => 25_000);
    const seen: number[] = [];
    let callsWhilePrintingFirst = 0;
    await new TaskLogReader(task, client, (_t, l) => {
      if (l.index === 0) callsWhilePrintingFirst = calls.length;
      seen.push(l.index);
    }).catchUp();
    expect(seen).toEqual(Array.from({ length: 25_000 }, (_, i) => i));
    expect(callsWhilePrintingFirst).toBe(2);
    expect(calls).toEqual([
      { after: -1, limit: 1000 },
      { after: 999, limit: 10_000 },
      { after: 10_999, limit: 10_000 },
      { after: 20_999, limit: 10_000 },
    ]);
  });

  it('skips event lines it already printed, and fills a gap before an event that skips ahead', async () => {
    let stored = 3;
    const { client } = fakeClient(() => stored);
    const seen: number[] = [];
    const reader = new TaskLogReader(task, client, (_t, l) => seen.push(l.index));
    await reader.catchUp(); // 0..2
    await reader.offer([line(1), line(2)]); // duplicates of what REST gave
    stored = 8;
    await reader.offer([line(6), line(7)]); // 3..5 were missed: fetched first
    await reader.offer([line(7)]);
    await reader.catchUp();
    expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('events and REST racing each other still print each line once', async () => {
    let stored = 0;
    const { client } = fakeClient(() => stored);
    const seen: number[] = [];
    const reader = new TaskLogReader(task, client, (_t, l) => seen.push(l.index));
    const work: Array<Promise<void>> = [];
    for (let batch = 0; batch < 20; batch++) {
      const first = stored;
      stored += 5;
      work.push(reader.offer([0, 1, 2, 3, 4].map((i) => line(first + i))));
      if (batch % 3 === 0) work.push(reader.catchUp());
    }
    await Promise.all(work);
    await reader.catchUp();
    expect(seen).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('starts from a given line for --tail', async () => {
    const { client } = fakeClient(() => 10);
    const seen: number[] = [];
    await new TaskLogReader(task, client, (_t, l) => seen.push(l.index), 7).catchUp();
    expect(seen).toEqual([7, 8, 9]);
  });
});

describe('countLogLines', () => {
  it.each([0, 1, 2, 3, 1000, 1024, 1025, 999_999])('counts %i lines', async (n) => {
    const { client } = fakeClient(() => n);
    expect(await countLogLines(client, 't1')).toBe(n);
  });

  it('needs about 2·log2(n) one-line requests, not the whole log', async () => {
    const { client, calls } = fakeClient(() => 1_000_000);
    await countLogLines(client, 't1');
    expect(calls.length).toBeLessThanOrEqual(42);
    expect(calls.every((c) => c.limit === 1)).toBe(true);
  });
});
