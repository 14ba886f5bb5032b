import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, constants, copyFile, lstat, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';

import type { BorgClient, JobFileWithMeta } from '@borg/protocol';

import { CacheLru } from './input-cache-lru.ts';
import type { Workspace } from './workspace.ts';

const SHA256_PATTERN = /^[0-9a-f]{64}$/;
const TEMP_PREFIX = '.tmp-';
/** A temp file untouched this long belongs to a download that died with its solder. */
const STALE_TEMP_MS = 60 * 60 * 1000;
/** --cache-size when none is given. */
export const DEFAULT_INPUT_CACHE_BYTES = 10 * 1024 ** 3;

/** The inputs of one task, held in the cache (never evicted) until the task lets go. */
export interface InputLease {
  release(): Promise<void>;
}

/**
 * Job inputs, downloaded once per content hash into `cacheDir/<sha256>` and placed into task
 * workspaces from there.
 *
 * The cache (mode 700) is the solder's alone, and every workspace gets its own copy of an input
 * (a reflink where the file system can share the blocks, a plain copy otherwise), never a link
 * to the cached file: whatever a task does to its inputs, or a container running as root does to
 * its /workspace, later tasks get the bytes that were downloaded and checked. The copy belongs
 * to the task's user and is read-only (mode 444) as placed. A cached file is re-hashed on a hit
 * when its size or mtime changed since it was last verified (and every file once per process,
 * so a download torn by a crash before it reached the disk is caught too).
 *
 * The cache holds at most `capBytes` (--cache-size): before a download would pass it, the least
 * recently used files go first, but never one that a running task holds (from place() until
 * its lease is released, when the task ends). So it may pass the cap while running tasks hold
 * more; a file larger than the cap is downloaded, placed, and removed when its last task ends.
 * Recency is kept in memory; after a restart the files on disk start in download order (mtime).
 */
export class InputCache {
  /** One download per hash at a time: concurrent tasks needing the same input share it. */
  private readonly inFlight = new Map<string, Promise<string>>();
  /** sha256 → "size:mtime" of the cached file when its hash was last checked. */
  private readonly verified = new Map<string, string>();
  /** sha256 → its removal under way: a download of the same file waits for it. */
  private readonly removing = new Map<string, Promise<void>>();
  private readonly lru: CacheLru;
  private loaded: Promise<void> | undefined;
  private swept = false;

  constructor(
    private readonly cacheDir: string,
    private readonly client: BorgClient,
    capBytes = DEFAULT_INPUT_CACHE_BYTES,
  ) {
    this.lru = new CacheLru(capBytes);
  }

  /** Bytes the cache holds (and is downloading). */
  get usedBytes(): number {
    return this.lru.usedBytes;
  }

  /**
   * Puts every file at its path in the workspace, or throws and says which file and why. The
   * files stay in the cache until the lease is released (when the task ends).
   */
  async place(files: JobFileWithMeta[], workspace: Workspace): Promise<InputLease> {
    // Every destination and every hash is checked before a byte is fetched: a bad job fails
    // at once and costs no bandwidth.
    const targets: string[] = [];
    for (const file of files) {
      if (!SHA256_PATTERN.test(file.sha256)) {
        throw new Error(`input file ${file.path}: ${JSON.stringify(file.sha256)} is not a sha256 digest`);
      }
      if (!Number.isSafeInteger(file.size) || file.size < 0) {
        throw new Error(`input file ${file.path}: invalid size ${file.size}`);
      }
      targets.push(await workspace.resolveInside(file.path));
    }

    await this.load();
    const lease = this.hold(files);
    try {
      const cached = await Promise.allSettled(files.map((file) => this.cached(file)));
      // Settled first, thrown after, so no download is still writing when place() answers.
      const failed = cached.find((result) => result.status === 'rejected');
      if (failed) throw failed.reason;

      for (const [i, file] of files.entries()) {
        await placeFile((cached[i] as PromiseFulfilledResult<string>).value, targets[i]!, file.path);
        await workspace.handOver(targets[i]!);
      }
    } catch (error) {
      await lease.release();
      throw error;
    }
    return lease;
  }

  /** Pins the files (synchronously, so nothing is evicted between the pin and the use). */
  private hold(files: JobFileWithMeta[]): InputLease {
    for (const file of files) this.lru.pin(file.sha256);
    let released = false;
    return {
      release: async () => {
        if (released) return;
        released = true;
        for (const file of files) this.lru.unpin(file.sha256);
        await this.remove(this.lru.overflow());
      },
    };
  }

  /** Puts the files already in the cache on the books once per process, oldest download first. */
  private load(): Promise<void> {
    this.loaded ??= this.scan().catch((error: unknown) => {
      this.loaded = undefined;
      throw error;
    });
    return this.loaded;
  }

  private async scan(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.cacheDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const found: Array<{ name: string; size: number; mtimeMs: number }> = [];
    for (const name of names) {
      if (!SHA256_PATTERN.test(name)) continue;
      const stats = await lstat(path.join(this.cacheDir, name)).catch(() => null);
      if (stats?.isFile()) found.push({ name, size: stats.size, mtimeMs: stats.mtimeMs });
    }
    found.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const { name, size } of found) this.lru.add(name, size);
    // A cap lowered since the last run applies at once.
    await this.remove(this.lru.overflow());
  }

  /** Deletes files the books no longer hold. A failed removal leaves the file, harmlessly unused. */
  private async remove(victims: string[]): Promise<void> {
    await Promise.all(
      victims.map((sha256) => {
        this.verified.delete(sha256);
        const removal = rm(path.join(this.cacheDir, sha256), { force: true })
          .catch(() => undefined)
          .finally(() => {
            if (this.removing.get(sha256) === removal) this.removing.delete(sha256);
          });
        this.removing.set(sha256, removal);
        return removal;
      }),
    );
  }

  private cached(file: JobFileWithMeta): Promise<string> {
    let pending = this.inFlight.get(file.sha256);
    if (!pending) {
      pending = this.fetchOnce(file).finally(() => this.inFlight.delete(file.sha256));
      this.inFlight.set(file.sha256, pending);
    }
    return pending;
  }

  private async fetchOnce(file: JobFileWithMeta): Promise<string> {
    await this.removing.get(file.sha256);
    const final = path.join(this.cacheDir, file.sha256);
    if (await this.isIntact(final, file)) {
      this.lru.add(file.sha256, file.size); // used again: the most recent now
      return final;
    }
    this.lru.delete(file.sha256);
    await mkdir(this.cacheDir, { recursive: true, mode: 0o700 });
    await chmod(this.cacheDir, 0o700);
    await this.sweepStaleTemps();

    await this.remove(this.lru.reserve(file.size));
    let stored = false;
    const temp = path.join(this.cacheDir, `${TEMP_PREFIX}${file.sha256}-${randomUUID()}`);
    try {
      const { sha256, size } = await this.download(file, temp);
      if (size !== file.size) {
        throw new Error(`input file ${file.path}: size mismatch (expected ${file.size} bytes, got ${size})`);
      }
      if (sha256 !== file.sha256) {
        throw new Error(`input file ${file.path}: sha256 mismatch (expected ${file.sha256}, got ${sha256})`);
      }
      // rename() replaces atomically: a reader sees no file or the whole verified file.
      await rename(temp, final);
      stored = true;
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    } finally {
      this.lru.settle(file.size, stored ? file.sha256 : undefined);
    }
    const stats = await stat(final);
    this.verified.set(file.sha256, `${stats.size}:${stats.mtimeMs}`);
    return final;
  }

  /** Streams the file to `temp`, hashing as it goes; stops early if more bytes come than promised. */
  private async download(file: JobFileWithMeta, temp: string): Promise<{ sha256: string; size: number }> {
    const response = await this.client.downloadFile(file.file_id);
    if (!response.body) throw new Error(`input file ${file.path}: the mothership sent no body`);
    const hash = createHash('sha256');
    let size = 0;
    const measure = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        if (size > file.size) {
          callback(new Error(`input file ${file.path}: size mismatch (expected ${file.size} bytes, got more)`));
          return;
        }
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    await pipeline(
      Readable.fromWeb(response.body as NodeReadableStream<Uint8Array>),
      measure,
      // 'wx': never write through something already there; 0o444: cached bytes are never rewritten.
      createWriteStream(temp, { flags: 'wx', mode: 0o444 }),
    );
    return { sha256: hash.digest('hex'), size };
  }

  /** True when the cached copy exists and still has the right bytes; removes a damaged one. */
  private async isIntact(final: string, file: JobFileWithMeta): Promise<boolean> {
    let stats;
    try {
      stats = await lstat(final);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    const signature = `${stats.size}:${stats.mtimeMs}`;
    if (stats.isFile() && stats.size === file.size) {
      if (this.verified.get(file.sha256) === signature) return true;
      if ((await sha256Of(final)) === file.sha256) {
        this.verified.set(file.sha256, signature);
        return true;
      }
    }
    this.verified.delete(file.sha256);
    await rm(final, { force: true });
    return false;
  }

  /** Removes temp files of downloads that a crashed solder left behind (once per process). */
  private async sweepStaleTemps(): Promise<void> {
    if (this.swept) return;
    this.swept = true;
    for (const name of await readdir(this.cacheDir)) {
      if (!name.startsWith(TEMP_PREFIX)) continue;
      const file = path.join(this.cacheDir, name);
      const stats = await lstat(file).catch(() => null);
      if (stats && Date.now() - stats.mtimeMs > STALE_TEMP_MS) await rm(file, { force: true });
    }
  }
}

/**
 * Copies the cached file to the target: a reflink (shared blocks, copied on write) where the file
 * system supports it, a plain copy otherwise; never a hard link, which would let a write to the
 * workspace reach the cache. An existing target (EEXIST), a symlink included, is refused, so
 * nothing is followed or overwritten.
 */
async function placeFile(cached: string, target: string, relativePath: string): Promise<void> {
  try {
    await copyFile(cached, target, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    throw new Error(`input file ${relativePath}: something already exists at that path`, { cause: error });
  }
}

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
