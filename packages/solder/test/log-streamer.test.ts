import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { type AppendLogsResponse, BorgApiError, MAX_LINE_LENGTH } from '@borg/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { type LogBatch, LogSpool } from '../src/log-spool.ts';
import { LogStreamer, type LogStreamerOptions } from '../src/log-streamer.ts';

type Fault = 'ok' | 'network' | 'answer-lost' | 503 | 'stale';

/**
 * The server's half of log shipping, in memory, with its rules: batch n is stored only after
 * n - 1, a repeat is acknowledged without storing, a batch past the next is 409 LOG_SEQUENCE_GAP.
 * Faults are taken one per call from `faults`; `down` fails every call like an unreachable host.
 */
class FakeLogServer {
  stored: LogBatch[] = [];
  /** The seq of every call, in order, faulted or not. */
  readonly calls: number[] = [];
  faults: Fault[] = [];
  down = false;

  readonly send = async (batch: LogBatch): Promise<AppendLogsResponse> => {
    this.calls.push(batch.seq);
    await new Promise((resolve) => setImmediate(resolve));
    if (this.down) throw new TypeError('fetch failed');
    const fault = this.faults.shift();
    if (fault === 'network') throw new TypeError('fetch failed');
    if (fault === 503) throw new BorgApiError(503, 'DATABASE_UNAVAILABLE', 'the database is unavailable');
    if (fault === 'stale') throw new BorgApiError(409, 'STALE_TASK', 'task t-1 was taken back');
    const next = this.stored.length;
    if (batch.seq > next) {
      throw new BorgApiError(409, 'LOG_SEQUENCE_GAP', `expected ${next}`, { next_seq: next });
    }
    if (batch.seq === next) this.stored.push(structuredClone(batch));
    if (fault === 'answer-lost') throw new TypeError('fetch failed'); // stored, but the answer never came
    return { seq: batch.seq, stored: batch.seq === next, next_seq: this.stored.length, line_count: 0 };
  };

  get messages(): string[] {
    return this.stored.flatMap((b) => b.lines.map((l) => l.message));
  }
}

describe('LogStreamer: turning output into numbered batches', () => {
  let dir: string;
  let server: FakeLogServer;
  const streamers: LogStreamer[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'borg-log-streamer-'));
    server = new FakeLogServer();
  });
  afterEach(async () => {
    for (const streamer of streamers.splice(0)) streamer.close();
    await rm(dir, { recursive: true, force: true });
  });

  function streamer(options: Partial<LogStreamerOptions> = {}): LogStreamer {
    const made = new LogStreamer({ send: server.send, spillPath: join(dir, 'spool.jsonl'), ...options });
    streamers.push(made);
    return made;
  }

  it('joins lines split across chunks, a UTF-8 character split between two chunks included', async () => {
    const logs = streamer();
    const bytes = Buffer.from('hello wor', 'utf8');
    const emoji = Buffer.from('café 😀 ok\n', 'utf8');
    const inEmoji = emoji.indexOf(0xf0) + 2; // between the 2nd and 3rd byte of the 4-byte 😀
    logs.write('stdout', bytes);
    logs.write('stdout', Buffer.from('ld\nsecond '));
    logs.write('stdout', Buffer.from('line\n'));
    logs.write('stdout', emoji.subarray(0, inEmoji));
    logs.write('stdout', emoji.subarray(inEmoji));
    expect(await logs.finish()).toEqual({ complete: true });
    expect(server.messages).toEqual(['hello world', 'second line', 'café 😀 ok']);
  });

  it('keeps stdout and stderr apart, each line with its stream', async () => {
    const logs = streamer();
    logs.write('stdout', Buffer.from('out-a\nout-'));
    logs.write('stderr', Buffer.from('err-a\n'));
    logs.write('stdout', Buffer.from('b\n'));
    await logs.finish();
    const lines = server.stored.flatMap((b) => b.lines.map((l) => `${l.stream}:${l.message}`));
    expect(lines).toEqual(['stdout:out-a', 'stderr:err-a', 'stdout:out-b']);
  });

  it('flushes a partial last line when the task ends, and keeps CRLF line ends as they were', async () => {
    const logs = streamer();
    logs.write('stdout', Buffer.from('dos line\r\nanother\r\n\r\nno newline at the end'));
    await logs.finish();
    expect(server.messages).toEqual(['dos line\r', 'another\r', '\r', 'no newline at the end']);
  });

  it('splits a line longer than MAX_LINE_LENGTH into pieces that join back into it', async () => {
    const logs = streamer();
    // A 4-byte character straddles the first cut, so a naive cut would halve its surrogate pair.
    const long = 'a'.repeat(MAX_LINE_LENGTH - 1) + '😀' + 'b'.repeat(MAX_LINE_LENGTH + 10);
    logs.write('stdout', Buffer.from(long + '\nafter\n'));
    await logs.finish();
    const pieces = server.messages;
    expect(pieces.at(-1)).toBe('after');
    const parts = pieces.slice(0, -1);
    expect(parts.length).toBeGreaterThanOrEqual(3);
    for (const part of parts) {
      expect(part.length).toBeLessThanOrEqual(MAX_LINE_LENGTH);
      expect(/[\uD800-\uDBFF]$/.test(part), 'a piece ends in half a character').toBe(false);
    }
    expect(parts.join('')).toBe(long);
  });

  it('cuts batches of at most ~64 KiB (unless one line is larger), numbered 0, 1, 2… without gaps', async () => {
    const logs = streamer();
    const expected: string[] = [];
    for (let i = 0; i < 400; i++) {
      const line = `${i} `.padEnd(i === 200 ? 200_000 : 900, 'x');
      expected.push(line);
      logs.write('stdout', Buffer.from(line + '\n'));
      // Written as a process writes, with the server answering in between (lines written while a
      // batch is in flight ride with the next one: the test below).
      await new Promise((resolve) => setImmediate(resolve));
    }
    await logs.finish();
    expect(server.messages).toEqual(expected);
    expect(server.stored.map((b) => b.seq)).toEqual(server.stored.map((_, i) => i));
    expect(server.stored.length).toBeGreaterThan(5);
    for (const batch of server.stored) {
      const sizes = batch.lines.map((l) => Buffer.byteLength(l.message));
      // Everything but the line that filled the batch fits under 64 KiB.
      expect(sizes.slice(0, -1).reduce((a, b) => a + b, 0)).toBeLessThan(64 * 1024);
      const total = sizes.reduce((a, b) => a + b, 0);
      if (Math.max(...sizes) < 64 * 1024) expect(total).toBeLessThan(64 * 1024 + 1000);
    }
  });

  it('retries network errors, 503s and lost answers, so the stored log is the output exactly once, in order', async () => {
    const logs = streamer({ flushIntervalMs: 5, maxBatchBytes: 2_000 });
    // Each fault hits one call; 'ok' lets one through so the backoff starts again from its base.
    server.faults = ['network', 'ok', 503, 'ok', 'answer-lost', 'ok', 'network', 'answer-lost', 'ok', 503];
    const expected = Array.from({ length: 300 }, (_, i) => `line ${i}`);
    for (const [i, line] of expected.entries()) {
      logs.write(i % 2 ? 'stderr' : 'stdout', Buffer.from(line + '\n'));
      // Every 50 lines, what was written so far goes out (or is retried) before more is written,
      // so the faults meet batches cut at different points.
      if (i % 50 === 0) {
        const calls = server.calls.length;
        await expect.poll(() => server.calls.length, { timeout: 5_000 }).toBeGreaterThan(calls);
      }
    }
    expect(await logs.finish()).toEqual({ complete: true });
    expect(server.faults).toEqual([]); // every fault was met
    expect(server.messages).toEqual(expected);
    expect(server.stored.map((b) => b.seq)).toEqual(server.stored.map((_, i) => i));
    // Retries happened: some batch numbers were sent more than once.
    expect(server.calls.length).toBeGreaterThan(server.stored.length);
  });

  it('lets the lines written while a batch is in flight ride together in the next, up to ~1 MiB', async () => {
    const logs = streamer();
    const expected = Array.from({ length: 5_000 }, (_, i) => `${i} `.padEnd(500, 'y'));
    for (const line of expected) logs.write('stdout', Buffer.from(line + '\n')); // all before the first answer
    await logs.finish();
    expect(server.messages).toEqual(expected);
    expect(server.stored.map((b) => b.seq)).toEqual(server.stored.map((_, i) => i));
    // The first batch is cut at ~64 KiB; the rest (2.8 MB with the per-line allowance) waited for it.
    expect(server.stored.length).toBeLessThanOrEqual(6);
    for (const batch of server.stored) {
      expect(batch.lines.reduce((sum, l) => sum + Buffer.byteLength(l.message) + 64, 0)).toBeLessThan(
        1024 * 1024 + 600,
      );
    }
  });

  it('spills batches to disk during an outage and sends them, in order, once the server is back', async () => {
    const spillPath = join(dir, 'spool.jsonl');
    const logs = streamer({ flushIntervalMs: 5, maxBatchBytes: 500, memoryLimitBytes: 2_000 });
    server.down = true;
    const expected = Array.from({ length: 400 }, (_, i) => `numbered line ${i}`);
    for (const line of expected) logs.write('stdout', Buffer.from(line + '\n'));
    const onDisk = () => readFileSync(spillPath, 'utf8').split('\n').filter(Boolean);
    await expect.poll(() => onDisk().length, { timeout: 5_000 }).toBeGreaterThan(10);
    expect(server.stored).toEqual([]);

    server.down = false;
    expect(await logs.finish()).toEqual({ complete: true });
    expect(server.messages).toEqual(expected);
    expect(server.stored.map((b) => b.seq)).toEqual(server.stored.map((_, i) => i));
    expect(readFileSync(spillPath, 'utf8')).toBe(''); // read back and emptied
  });

  it('stops at once, and says so once, when the server says the task is no longer ours (409 STALE_TASK)', async () => {
    const rejections: BorgApiError[] = [];
    const logs = streamer({ flushIntervalMs: 5, onRejected: (error) => rejections.push(error) });
    logs.write('stdout', Buffer.from('accepted\n'));
    await expect.poll(() => server.stored.length, { timeout: 5_000, message: 'the first batch' }).toBe(1);
    server.faults = ['stale'];
    logs.write('stdout', Buffer.from('refused\n'));
    await expect.poll(() => rejections.length, { timeout: 5_000, message: 'the rejection' }).toBe(1);
    const callsAtRejection = server.calls.length;
    for (let i = 0; i < 20; i++) logs.write('stdout', Buffer.from(`more ${i}\n`));
    expect(await logs.finish()).toEqual({ complete: false });
    expect(rejections.map((e) => e.code)).toEqual(['STALE_TASK']);
    expect(server.calls.length).toBe(callsAtRejection);
    expect(server.messages).toEqual(['accepted']);
  });

  it('renumbers from the server when it lost acknowledged batches (LOG_SEQUENCE_GAP behind), and reports the log incomplete', async () => {
    const logs = streamer({ flushIntervalMs: 5 });
    for (const i of [0, 1, 2]) {
      logs.write('stdout', Buffer.from(`early ${i}\n`));
      await expect.poll(() => server.stored.length, { timeout: 5_000, message: `batch ${i}` }).toBe(i + 1);
    }
    server.stored = server.stored.slice(0, 1); // the server restored a backup taken after batch 0
    logs.write('stdout', Buffer.from('late 0\n'));
    await expect.poll(() => server.stored.length, { timeout: 5_000, message: 'the renumbered batch' }).toBe(2);
    logs.write('stdout', Buffer.from('late 1\n'));
    expect(await logs.finish()).toEqual({ complete: false });
    expect(server.messages).toEqual(['early 0', 'late 0', 'late 1']);
    expect(server.stored.map((b) => b.seq)).toEqual([0, 1, 2]);
  });
});

describe('LogSpool: a FIFO that overflows to disk', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'borg-log-spool-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const batch = (seq: number, message: string): LogBatch => ({ seq, lines: [{ stream: 'stdout', message }] });

  it('keeps order across memory and disk, batches bigger than its read buffer included, and empties the file', () => {
    const path = join(dir, 'spool.jsonl');
    const spool = new LogSpool(path, 1_000);
    const messages = Array.from({ length: 50 }, (_, i) => (i === 20 ? 'y'.repeat(3 * 1024 * 1024) : `m${i}`));
    for (const [seq, message] of messages.entries()) spool.push(batch(seq, message), message.length + 64);
    expect(spool.size).toBe(50);
    expect(spool.spilled).toBeGreaterThan(0);

    const out: string[] = [];
    for (let head = spool.peek(); head; head = spool.peek()) {
      expect(head.seq).toBe(out.length);
      out.push(head.lines[0]!.message);
      spool.shift();
      if (out.length === 25) spool.push(batch(50, 'pushed while draining'), 100);
    }
    expect(out).toEqual([...messages, 'pushed while draining']);
    expect(spool.spilled).toBe(0);
    expect(readFileSync(path, 'utf8')).toBe('');
  });

  it('drops everything, file included, on clear()', () => {
    const path = join(dir, 'spool.jsonl');
    const spool = new LogSpool(path, 10);
    for (let seq = 0; seq < 5; seq++) spool.push(batch(seq, `m${seq}`), 100);
    expect(existsSync(path)).toBe(true);
    spool.clear();
    expect(spool.size).toBe(0);
    expect(spool.peek()).toBeUndefined();
    expect(existsSync(path)).toBe(false);
  });
});
