import type { LogLine } from '@borg/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { finishedJob, type InProcessSolder, startSolder } from '../../../test/test-solder.ts';

/**
 * The log limit (issue 17): past it, a real solder keeps the head (first quarter) and a rolling
 * tail (last quarter), sends one marker line between and never the middle; with log_overflow
 * `fail` the task fails instead.
 */
describe('log limit', () => {
  const borg = useTestMothership();
  let solder: InProcessSolder;

  beforeAll(async () => {
    solder = await startSolder(borg());
  });
  afterAll(async () => solder?.stop({ cancelRunning: true }));

  async function readAll(taskId: string): Promise<LogLine[]> {
    const lines: LogLine[] = [];
    let after: number | undefined;
    for (;;) {
      const page = await borg().admin.getTaskLogs(taskId, { after, limit: 10_000 });
      lines.push(...page.items);
      if (page.next_cursor === null) return lines;
      after = Number(page.next_cursor);
    }
  }

  it('keeps the first and last lines of 10 million exactly, with one marker between, under 1 MiB', async () => {
    const started = performance.now();
    const job = await borg().admin.createJob({
      name: 'ten million',
      type: 'shell',
      command: 'seq 10000000',
      log_limit: '1MiB',
    });
    expect(job.log_limit).toBe(1024 * 1024);
    const done = await finishedJob(borg(), job.id, 240_000);
    const seconds = (performance.now() - started) / 1000;
    expect(done.tasks[0]!.status).toBe('succeeded');
    const lines = await readAll(done.tasks[0]!.id);
    const markers = lines.filter((l) => l.stream === 'system' && / dropped …$/.test(l.message));
    expect(markers).toHaveLength(1);
    const at = lines.indexOf(markers[0]!);
    const head = lines.slice(0, at).map((l) => l.message);
    const tail = lines.slice(at + 1).map((l) => l.message);
    // The head is 1, 2, 3… and the tail …, 9999999, 10000000, each whole and in order.
    expect(head[0]).toBe('1');
    expect(head.every((m, i) => m === String(i + 1))).toBe(true);
    expect(tail.at(-1)).toBe('10000000');
    expect(tail.every((m, i) => m === String(10_000_001 - tail.length + i))).toBe(true);
    const dropped = 10_000_000 - head.length - tail.length;
    expect(markers[0]!.message).toMatch(new RegExp(`^… ${dropped} lines \\(\\d+\\.\\d MiB\\) dropped …$`));
    const bytes = [...head, ...tail].reduce((sum, m) => sum + Buffer.byteLength(m), 0);
    expect(bytes).toBeLessThanOrEqual(1024 * 1024);
    expect(bytes).toBeGreaterThan(400 * 1024); // a quarter each side, give or take a line
    console.log(`log limit: 10,000,000 lines under 1 MiB in ${seconds.toFixed(1)} s, ${lines.length} stored`);
  }, 300_000);

  it('keeps a log within its limit whole', async () => {
    const job = await borg().admin.createJob({
      name: 'within',
      type: 'shell',
      command: 'seq 3000',
      log_limit: '16KiB',
    });
    const done = await finishedJob(borg(), job.id);
    const lines = await readAll(done.tasks[0]!.id);
    expect(lines.map((l) => l.message)).toEqual(Array.from({ length: 3000 }, (_, i) => String(i + 1)));
  });

  it('fails the task past its limit with log_overflow fail', async () => {
    const job = await borg().admin.createJob({
      name: 'overflow fails',
      type: 'shell',
      command: 'seq 100000000',
      log_limit: '64KiB',
      log_overflow: 'fail',
    });
    const done = await finishedJob(borg(), job.id, 60_000);
    expect(done.tasks[0]).toMatchObject({ status: 'failed' });
    expect(done.tasks[0]!.error).toMatch(/log passed its limit of 64\.0 KiB/);
  });

  it('keeps a runner that ignores the limit within it: acknowledged, not kept, one marker (the backstop)', async () => {
    const runner = await borg().registerRunner({ labels: { backstop: 'yes' } });
    await borg().admin.createJob({
      name: 'backstop',
      type: 'shell',
      command: 'true',
      labels: { backstop: 'yes' },
      log_limit: '4KiB',
    });
    const task = (await runner.client.nextTasks(runner.id, { wait: 0 }))!.items[0]!;
    expect(task.log_limit).toBe(4096);
    await runner.client.reportTaskStatus(task.id, { status: 'running' });
    const batch = (seq: number) =>
      Array.from({ length: 10 }, (_, i) => ({ stream: 'stdout' as const, message: `${seq}-${i} `.padEnd(100, '.') }));
    const answers = [];
    for (let seq = 0; seq < 8; seq++)
      answers.push(await runner.client.appendTaskLogs(task.id, { seq, lines: batch(seq) }));
    // Every batch is acknowledged (the solder moves on); only the first 4 KiB and one marker are kept.
    expect(answers.map((a) => [a.stored, a.next_seq])).toEqual(Array.from({ length: 8 }, (_, i) => [true, i + 1]));
    const lines = await readAll(task.id);
    expect(lines.map((l) => l.message)).toEqual([
      ...[0, 1, 2, 3].flatMap((seq) => batch(seq).map((l) => l.message)),
      expect.stringMatching(/passed its limit/),
    ]);
    expect(lines.at(-1)!.stream).toBe('system');
    expect(answers.at(-1)!.line_count).toBe(41);
  });

  it('refuses a log limit that is not a size', async () => {
    await expect(
      borg().admin.createJob({ name: 'bad', type: 'shell', command: 'true', log_limit: '12 parsecs' }),
    ).rejects.toMatchObject({ status: 400 });
  });
});
