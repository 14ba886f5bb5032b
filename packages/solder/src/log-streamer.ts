import {
  type AppendLogsResponse,
  BorgApiError,
  type LogStream,
  MAX_LINE_LENGTH,
  MAX_LINES_PER_BATCH,
  type SecretLineMasker,
  type SecretMasker,
} from '@borg/protocol';

import { LogCap } from './log-cap.ts';
import { type LogBatch, LogSpool } from './log-spool.ts';
import { isTransient, retryDelayMs, sleep } from './retry.ts';

export interface LogStreamerOptions {
  send: (batch: LogBatch) => Promise<AppendLogsResponse>;
  /** Where batches go when too many wait in memory (one file per task). */
  spillPath: string;
  /** A batch is cut at least this often while output flows (~250 ms keeps the dashboard live). */
  flushIntervalMs?: number;
  /** …or as soon as this much is pending (64 KiB keeps each request small). */
  maxBatchBytes?: number;
  memoryLimitBytes?: number;
  /** Called once if the server says the task is no longer this runner's (403, 409 stale). */
  onRejected?: (error: BorgApiError) => void;
  /**
   * A task whose job keeps copies cut off from the mothership (on_disconnect keep): when the
   * server says the attempt was taken back (409 STALE_TASK), the lines are held, not dropped, in
   * case the copy succeeds first and is taken over (`retarget`). Called instead of onRejected.
   */
  onHeld?: () => void;
  /** The task's secrets: their values are masked in every line before it is batched (or spilled). */
  masker?: SecretMasker;
  /** The task's log limit in bytes (log-cap.ts); null or absent: none. */
  logLimitBytes?: number | null;
  /** Called once when the log goes past its limit (the task's job may fail it for that). */
  onOverflow?: () => void;
}

type Line = LogBatch['lines'][number];

/**
 * While a batch is in flight, the lines behind it wait and ride together in the next request,
 * up to this much: a slow server gets fewer, larger batches instead of a queue of small ones.
 */
const MAX_COALESCED_BYTES = 1024 * 1024;

/**
 * Turns a process's stdout and stderr into numbered batches of lines and ships them in order,
 * exactly once: each stream is decoded as UTF-8 across chunk boundaries (a character split
 * between two reads stays whole; invalid bytes become U+FFFD), split on "\n", and a partial
 * last line is flushed when the task ends. One batch is in flight at a time; a transient
 * failure is retried with backoff and the batches behind it wait (spilling to disk past the
 * memory limit), so an outage delays the log but loses and reorders nothing. The server
 * acknowledges a batch it already has, so a retry after a lost answer is harmless.
 *
 * With a masker, each stream's lines go through a SecretLineMasker of its own before anything
 * else sees them, so no batch in memory, on disk or on the wire holds a secret's value; a line
 * whose end could begin a value waits for the next line of its stream (or the end of the task),
 * and so may come after lines of the other stream written later.
 */
export class LogStreamer {
  private readonly decoders = { stdout: new TextDecoder('utf-8'), stderr: new TextDecoder('utf-8') };
  private readonly partial = { stdout: '', stderr: '' };
  private readonly maskers: Record<'stdout' | 'stderr', SecretLineMasker> | null;
  private pending: Line[] = [];
  private pendingBytes = 0;
  private nextSeq = 0;
  private readonly spool: LogSpool;
  private readonly timer: NodeJS.Timeout;
  private draining: Promise<void> | null = null;
  private rejected: BorgApiError | null = null;
  /** Sending is paused: the attempt was taken back and its copy may yet be taken over (onHeld). */
  private held = false;
  private readonly abort = new AbortController();
  /** Added to every batch number sent; moves only when the server lost batches (see resync). */
  private seqShift = 0;
  /** The server lost batches it had acknowledged: the stored log has a hole. */
  private holed = false;
  /** The batch in flight failed at least once (an outage): batches are cut at the usual size, to spill. */
  private failing = false;
  private readonly cap: LogCap | null;
  private overflowTold = false;
  /** The time stamp of the last line, reused for the lines of the same millisecond. */
  private stamp = { ms: 0, iso: '' };

  constructor(private readonly options: LogStreamerOptions) {
    this.spool = new LogSpool(options.spillPath, options.memoryLimitBytes ?? 8 * 1024 * 1024);
    this.cap = options.logLimitBytes ? new LogCap(options.logLimitBytes) : null;
    const masker = options.masker?.active ? options.masker : undefined;
    this.maskers = masker ? { stdout: masker.lineMasker(), stderr: masker.lineMasker() } : null;
    this.timer = setInterval(() => this.cut(), options.flushIntervalMs ?? 250);
  }

  write(stream: 'stdout' | 'stderr', chunk: Buffer): void {
    const text = this.partial[stream] + this.decoders[stream].decode(chunk, { stream: true });
    const parts = text.split('\n');
    this.partial[stream] = parts.pop()!;
    for (const part of parts) this.line(stream, part);
    // Keep one enormous unterminated line from growing without bound.
    if (this.partial[stream].length >= MAX_LINE_LENGTH) {
      this.line(stream, this.partial[stream]);
      this.partial[stream] = '';
    }
  }

  /** A line of Borg's own (input download, artifacts), marked as such in the log; secrets masked too. */
  system(message: string): void {
    this.add('system', this.options.masker?.mask(message) ?? message);
  }

  /** Flushes partial lines and waits until every batch is acknowledged. */
  async finish(): Promise<{ complete: boolean }> {
    for (const stream of ['stdout', 'stderr'] as const) {
      const rest = this.partial[stream] + this.decoders[stream].decode();
      this.partial[stream] = '';
      if (rest.length > 0) this.line(stream, rest);
      for (const line of this.maskers?.[stream].flush() ?? []) this.add(stream, line);
    }
    for (const line of this.cap?.drain(this.now()) ?? []) this.push(line, Buffer.byteLength(line.message));
    this.cut(true);
    clearInterval(this.timer);
    while (this.draining) await this.draining;
    return { complete: this.rejected === null && !this.holed && !this.held };
  }

  /** Stops sending (the lines wait) until `retarget`: the attempt was taken back from this runner. */
  hold(): void {
    this.held = true;
  }

  /**
   * Sends the held lines, and the rest, to another attempt (whose log is empty): its batches are
   * numbered from 0 again. `send` must now go to that attempt.
   */
  retarget(): void {
    this.seqShift = -(this.spool.peek()?.seq ?? this.nextSeq);
    this.held = false;
    if (this.spool.size > 0) this.kick();
  }

  /** Gives up on whatever is unsent (shutdown without the mothership). */
  close(): void {
    clearInterval(this.timer);
    this.abort.abort();
    this.spool.clear();
  }

  /** A whole line of the task's output: masked (perhaps later, with the lines after it), then added. */
  private line(stream: 'stdout' | 'stderr', text: string): void {
    if (!this.maskers) return this.add(stream, text);
    for (const line of this.maskers[stream].push(text)) this.add(stream, line);
  }

  private add(stream: LogStream, message: string): void {
    if (this.rejected) return;
    let start = 0;
    do {
      let end = start + MAX_LINE_LENGTH;
      // Never cut a character outside the BMP (an emoji) between its two UTF-16 halves: half a
      // surrogate pair is not valid Unicode and would be stored as U+FFFD on both sides of the cut.
      if (end < message.length && isHighSurrogate(message.charCodeAt(end - 1))) end--;
      const piece = message.slice(start, end);
      const line = { stream, message: piece, timestamp: this.now() };
      const bytes = Buffer.byteLength(piece);
      start = end;
      if (this.cap && !this.cap.take(line, bytes)) {
        if (this.cap.over && !this.overflowTold) {
          this.overflowTold = true;
          this.options.onOverflow?.();
        }
        continue;
      }
      this.push(line, bytes);
    } while (start < message.length);
  }

  private push(line: Line, bytes: number): void {
    this.pending.push(line);
    this.pendingBytes += bytes + 64;
    if (this.pendingBytes >= (this.options.maxBatchBytes ?? 64 * 1024)) this.cut();
  }

  private now(): string {
    const ms = Date.now();
    if (ms !== this.stamp.ms) this.stamp = { ms, iso: new Date(ms).toISOString() };
    return this.stamp.iso;
  }

  /** Makes the pending lines the next batch; while one is in flight they wait for it (unless forced or too many). */
  private cut(force = false): void {
    if (this.pending.length === 0 || this.rejected) return;
    const full = this.pendingBytes >= MAX_COALESCED_BYTES || this.pending.length >= MAX_LINES_PER_BATCH;
    if (this.draining && !this.failing && !force && !full) return;
    // In an outage, batches keep their usual size, so the spool spills them to disk in small pieces.
    const most = this.failing ? (this.options.maxBatchBytes ?? 64 * 1024) : MAX_COALESCED_BYTES;
    if (this.pendingBytes <= most && this.pending.length <= MAX_LINES_PER_BATCH) {
      this.spool.push({ seq: this.nextSeq++, lines: this.pending }, this.pendingBytes);
    } else {
      let start = 0;
      let bytes = 0;
      for (let i = 0; i < this.pending.length; i++) {
        bytes += Buffer.byteLength(this.pending[i]!.message) + 64;
        if (bytes >= most || i + 1 - start >= MAX_LINES_PER_BATCH || i === this.pending.length - 1) {
          this.spool.push({ seq: this.nextSeq++, lines: this.pending.slice(start, i + 1) }, bytes);
          start = i + 1;
          bytes = 0;
        }
      }
    }
    this.pending = [];
    this.pendingBytes = 0;
    this.kick();
  }

  private kick(): void {
    if (this.draining) return;
    this.draining = this.drain().finally(() => {
      this.draining = null;
      if (this.spool.size > 0 && !this.rejected && !this.held && !this.abort.signal.aborted) this.kick();
      else if (!this.abort.signal.aborted) this.cut();
    });
  }

  private async drain(): Promise<void> {
    let failures = 0;
    for (let batch = this.spool.peek(); batch; batch = this.spool.peek()) {
      if (this.abort.signal.aborted || this.held) return;
      try {
        await this.options.send({ seq: batch.seq + this.seqShift, lines: batch.lines });
        this.spool.shift();
        failures = 0;
        this.failing = false;
      } catch (error) {
        if (isTransient(error)) {
          this.failing = true;
          await sleep(retryDelayMs(error, failures++, 250, 10_000), this.abort.signal);
          continue;
        }
        if (error instanceof BorgApiError && error.code === 'LOG_SEQUENCE_GAP') {
          this.resync(batch.seq + this.seqShift, (error.details as { next_seq?: number } | undefined)?.next_seq);
          continue;
        }
        if (this.options.onHeld && error instanceof BorgApiError && error.code === 'STALE_TASK') {
          this.held = true;
          this.options.onHeld();
          return;
        }
        this.rejected = error instanceof BorgApiError ? error : new BorgApiError(0, 'REQUEST_FAILED', String(error));
        this.spool.clear();
        this.options.onRejected?.(this.rejected);
        return;
      }
    }
  }

  /**
   * The server expects another batch number than the one sent. Batches go strictly in order,
   * so a lower number means the server lost batches it had acknowledged (a database restored
   * from a backup): renumber from its number, note the hole, carry on. A higher one means it
   * already has this batch: treat it as acknowledged.
   */
  private resync(sentSeq: number, serverNext: number | undefined): void {
    if (serverNext === undefined || serverNext > sentSeq) {
      this.spool.shift();
      return;
    }
    this.seqShift += serverNext - sentSeq;
    this.holed = true;
  }
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
