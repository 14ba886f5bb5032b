import { appendFileSync, closeSync, openSync, readSync, rmSync, truncateSync } from 'node:fs';

import type { AppendLogsRequest } from '@borg/protocol';

export type LogBatch = Required<Pick<AppendLogsRequest, 'seq'>> & { lines: NonNullable<AppendLogsRequest['lines']> };

/**
 * A FIFO of log batches waiting to be acknowledged. It holds up to `memoryLimitBytes` in
 * memory; beyond that (a long mothership outage, a chatty task) new batches are appended to a
 * spool file on disk and read back, in order, as the head drains. Once anything is on disk,
 * every newer batch goes there too, so order is kept without sorting.
 */
export class LogSpool {
  private readonly memory: Array<{ batch: LogBatch; bytes: number }> = [];
  private memoryBytes = 0;
  private onDisk = 0;
  private readOffset = 0;

  constructor(
    private readonly spillPath: string,
    private readonly memoryLimitBytes: number,
  ) {}

  get size(): number {
    return this.memory.length + this.onDisk;
  }

  get spilled(): number {
    return this.onDisk;
  }

  push(batch: LogBatch, bytes: number): void {
    if (this.onDisk > 0 || (this.memory.length > 0 && this.memoryBytes + bytes > this.memoryLimitBytes)) {
      appendFileSync(this.spillPath, JSON.stringify(batch) + '\n', { mode: 0o600 });
      this.onDisk++;
      return;
    }
    this.memory.push({ batch, bytes });
    this.memoryBytes += bytes;
  }

  peek(): LogBatch | undefined {
    if (this.memory.length === 0 && this.onDisk > 0) this.refill();
    return this.memory[0]?.batch;
  }

  shift(): void {
    const head = this.memory.shift();
    if (head) this.memoryBytes -= head.bytes;
  }

  /** Drops everything (the task is no longer ours). */
  clear(): void {
    this.memory.length = 0;
    this.memoryBytes = 0;
    this.onDisk = 0;
    this.readOffset = 0;
    rmSync(this.spillPath, { force: true });
  }

  /** Reads spilled batches back into memory, up to the memory limit. */
  private refill(): void {
    const fd = openSync(this.spillPath, 'r');
    try {
      let chunk = Buffer.alloc(1024 * 1024);
      let carry = Buffer.alloc(0);
      while (this.onDisk > 0 && this.memoryBytes < this.memoryLimitBytes) {
        const read = readSync(fd, chunk, 0, chunk.length, this.readOffset + carry.length);
        if (read === 0) break;
        let data = Buffer.concat([carry, chunk.subarray(0, read)]);
        let newline: number;
        while ((newline = data.indexOf(0x0a)) >= 0 && this.memoryBytes < this.memoryLimitBytes) {
          const line = data.subarray(0, newline);
          this.memory.push({ batch: JSON.parse(line.toString('utf8')) as LogBatch, bytes: line.length });
          this.memoryBytes += line.length;
          this.readOffset += newline + 1;
          this.onDisk--;
          data = data.subarray(newline + 1);
        }
        carry = Buffer.from(data);
        // A batch larger than the read buffer: grow it so the next read reaches its newline.
        if (carry.length >= chunk.length) chunk = Buffer.alloc(chunk.length * 2);
        if (this.memory.length > 0 && this.memoryBytes >= this.memoryLimitBytes) break;
      }
    } finally {
      closeSync(fd);
    }
    if (this.onDisk === 0) {
      truncateSync(this.spillPath, 0);
      this.readOffset = 0;
    }
  }
}
