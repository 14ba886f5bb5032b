import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';

/**
 * The worker's code, a plain script so that it needs no file of its own next to the bundle: one
 * sha256 per upload id, fed from the shared slots; each slot is handed back once hashed, and
 * `end` digests or drops the hash.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const slots = workerData.slots.map((buffer) => new Uint8Array(buffer));
const hashes = new Map();
parentPort.on('message', ({ id, slot, length, end }) => {
  let hash = hashes.get(id);
  if (!hash) hashes.set(id, (hash = createHash('sha256')));
  if (slot !== undefined) {
    hash.update(slots[slot].subarray(0, length));
    parentPort.postMessage({ slot });
  }
  if (end) {
    hashes.delete(id);
    parentPort.postMessage({ id, sha256: end === 'digest' ? hash.digest('hex') : '' });
  }
});
`;

/** Bytes gathered before they go to the worker: one message and one copy per batch, not per chunk. */
const SLOT_BYTES = 1024 * 1024;
/**
 * Batches in flight at once, across every upload: the memory the hashing ever takes (a fixed
 * 8 MiB, allocated once), and the sender's backpressure when the thread falls behind.
 */
const SLOTS = 8;
/** An idle worker ends after this long; the next large upload starts another. */
const IDLE_MS = 30_000;

/**
 * One worker thread shared by every upload in progress, started with the first large one and
 * ended when idle, so hashing never holds the event loop: the loop copies each batch once into
 * a shared slot (the stream still needs its chunks) and the thread hashes it there.
 */
class HashThread {
  private worker: Worker | undefined;
  private readonly slots = Array.from({ length: SLOTS }, () => new SharedArrayBuffer(SLOT_BYTES));
  private free = this.slots.map((_, index) => index);
  private readonly waitingForSlot: Array<() => void> = [];
  private readonly digests = new Map<number, { resolve: (sha256: string) => void; reject: (error: Error) => void }>();
  private readonly open = new Set<number>();
  private nextId = 0;
  private idleTimer: NodeJS.Timeout | undefined;
  private failure: Error | undefined;

  begin(): number {
    const id = this.nextId++;
    this.open.add(id);
    clearTimeout(this.idleTimer);
    return id;
  }

  /** Copies the chunks into a free slot (waiting for one) and sends it to be hashed. */
  async send(id: number, chunks: Buffer[], length: number): Promise<void> {
    while (this.free.length === 0) await new Promise<void>((resolve) => this.waitingForSlot.push(resolve));
    this.throwIfFailed(id);
    const slot = this.free.pop()!;
    const view = new Uint8Array(this.slots[slot]!);
    let offset = 0;
    for (const chunk of chunks) {
      view.set(chunk, offset);
      offset += chunk.byteLength;
    }
    this.workerNow().postMessage({ id, slot, length });
  }

  digest(id: number): Promise<string> {
    this.throwIfFailed(id);
    return new Promise((resolve, reject) => {
      this.digests.set(id, { resolve, reject });
      this.workerNow().postMessage({ id, end: 'digest' });
    });
  }

  /** Forgets an upload that ended early (its hash is dropped on the worker). */
  drop(id: number): void {
    if (!this.open.delete(id)) return;
    this.worker?.postMessage({ id, end: 'drop' });
    this.idleWhenDone();
  }

  private throwIfFailed(id: number): void {
    if (!this.open.has(id)) throw this.failure ?? new Error(`hash ${id} is not open`);
  }

  private workerNow(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { slots: this.slots } });
    // An idle worker must not keep the process alive; a live upload keeps it busy anyway.
    worker.unref();
    worker.on('message', (message: { slot?: number; id?: number; sha256?: string }) => this.onMessage(message));
    worker.on('error', (error) => this.fail(worker, error));
    worker.on('exit', (code) => this.fail(worker, new Error(`the hashing thread exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private onMessage({ slot, id, sha256 }: { slot?: number; id?: number; sha256?: string }): void {
    if (slot !== undefined) {
      this.free.push(slot);
      this.waitingForSlot.shift()?.();
    }
    if (id === undefined || sha256 === undefined) return;
    const digest = this.digests.get(id);
    this.digests.delete(id);
    this.open.delete(id);
    digest?.resolve(sha256);
    this.idleWhenDone();
  }

  /** Every open hash fails with the thread; the next upload starts a new one. */
  private fail(worker: Worker, error: Error): void {
    if (this.worker !== worker) return;
    this.worker = undefined;
    this.failure = error;
    for (const digest of this.digests.values()) digest.reject(error);
    this.digests.clear();
    this.open.clear();
    this.free = this.slots.map((_, index) => index);
    for (const wake of this.waitingForSlot.splice(0)) wake();
  }

  private idleWhenDone(): void {
    if (this.open.size > 0 || !this.worker) return;
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      const worker = this.worker;
      if (this.open.size > 0 || !worker) return;
      this.worker = undefined;
      void worker.terminate();
    }, IDLE_MS);
    this.idleTimer.unref();
  }
}

let thread: HashThread | undefined;

/**
 * A sha256 computed off the event loop: `update` gathers chunks into batches for the hashing
 * thread and resolves when the caller may send more; `digest` resolves with the hex hash. Bytes
 * that end before a first batch is full are hashed here, at once, and never wake the thread.
 * Call `drop` when the bytes stop coming before the end.
 */
export class OffThreadSha256 {
  private id: number | undefined;
  private batch: Buffer[] = [];
  private batchBytes = 0;

  async update(chunk: Buffer): Promise<void> {
    for (let rest = chunk; rest.byteLength > 0;) {
      const taken = rest.subarray(0, SLOT_BYTES - this.batchBytes);
      this.batch.push(taken);
      this.batchBytes += taken.byteLength;
      rest = rest.subarray(taken.byteLength);
      if (this.batchBytes === SLOT_BYTES) await this.flush();
    }
  }

  async digest(): Promise<string> {
    if (this.id === undefined) {
      const hash = createHash('sha256');
      for (const chunk of this.batch) hash.update(chunk);
      return hash.digest('hex');
    }
    await this.flush();
    return thread!.digest(this.id);
  }

  drop(): void {
    if (this.id !== undefined) thread!.drop(this.id);
  }

  private async flush(): Promise<void> {
    if (this.batchBytes === 0) return;
    thread ??= new HashThread();
    this.id ??= thread.begin();
    const [chunks, length] = [this.batch, this.batchBytes];
    this.batch = [];
    this.batchBytes = 0;
    await thread.send(this.id, chunks, length);
  }
}
