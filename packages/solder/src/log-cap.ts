import { formatByteSize, type LogStream } from '@borg/protocol';

export interface CappedLine {
  stream: LogStream;
  message: string;
  timestamp: string;
}

/**
 * A task's log limit, kept at the source. The first quarter of the limit (the head) is sent as
 * it comes. What follows waits here: while the log stays within the limit, all of it (up to
 * three quarters of the limit); once past it, only a rolling tail of the last quarter, the
 * lines before it dropped and counted. At the end the waiting lines are sent, after one marker
 * line when some were dropped. So a log within its limit is kept whole, and one past it keeps
 * its head and tail with `… N lines (S) dropped …` between, and the task is never slowed for it.
 */
export class LogCap {
  private readonly headBytes: number;
  private sentBytes = 0;
  private readonly waiting: CappedLine[] = [];
  private readonly sizes: number[] = [];
  /** Index of the first waiting line still kept (the array is compacted now and then). */
  private first = 0;
  private waitingBytes = 0;
  private droppedLines = 0;
  private droppedBytes = 0;
  /** The log went past its limit. */
  over = false;

  constructor(private readonly limitBytes: number) {
    this.headBytes = Math.floor(limitBytes / 4);
  }

  /** True when the line may be sent now (it is in the head); otherwise the cap keeps or drops it. */
  take(line: CappedLine, bytes: number): boolean {
    if (this.waitingBytes === 0 && this.sentBytes + bytes <= this.headBytes) {
      this.sentBytes += bytes;
      return true;
    }
    this.waiting.push(line);
    this.sizes.push(bytes);
    this.waitingBytes += bytes;
    if (!this.over && this.sentBytes + this.waitingBytes > this.limitBytes) this.over = true;
    const keep = this.over ? this.limitBytes - this.headBytes * 3 : this.limitBytes - this.sentBytes;
    while (this.waitingBytes > keep && this.first < this.waiting.length - 1) {
      this.waitingBytes -= this.sizes[this.first]!;
      this.droppedBytes += this.sizes[this.first]!;
      this.droppedLines++;
      this.first++;
    }
    if (this.first > 4096 && this.first * 2 > this.waiting.length) {
      this.waiting.splice(0, this.first);
      this.sizes.splice(0, this.first);
      this.first = 0;
    }
    return false;
  }

  /** The lines to send at the end: the marker (when lines were dropped), then the kept tail. */
  drain(timestamp: string): CappedLine[] {
    const tail = this.waiting.slice(this.first);
    this.waiting.length = 0;
    this.sizes.length = 0;
    this.first = 0;
    this.waitingBytes = 0;
    if (this.droppedLines === 0) return tail;
    const marker = `… ${this.droppedLines} lines (${formatByteSize(this.droppedBytes)}) dropped …`;
    return [{ stream: 'system', message: marker, timestamp }, ...tail];
  }
}
