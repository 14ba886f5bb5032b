import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, openAsBlob } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';

import type { BorgClient, FileInfo } from '@borg/protocol';

import { CliError, ExitCode } from './cli-error.ts';
import { ProgressBar } from './progress-bar.ts';
import { terminalSafe } from './terminal-safe.ts';

const transferError = (message: string, hint?: string) => new CliError(message, ExitCode.TRANSFER, hint);

/**
 * Uploads a local file as the raw body of `PUT /files`, streamed from disk (never whole in
 * memory) with a progress bar, and checks the sha256 the mothership computed against the one
 * computed here while sending.
 */
export async function uploadLocalFile(client: BorgClient, localPath: string, name = basename(localPath)) {
  const info = await stat(localPath).catch((error: NodeJS.ErrnoException) => {
    throw transferError(`cannot read ${localPath} (${error.code ?? error.message})`, 'check the path');
  });
  if (!info.isFile()) throw transferError(`${localPath} is not a regular file`, 'give a file, not a directory');
  const blob = await openAsBlob(localPath);
  const hash = createHash('sha256');
  const bar = new ProgressBar(printable(name), info.size);
  let uploaded: FileInfo;
  try {
    uploaded = await client.putFile(blob, name, {
      onChunk: (chunk) => {
        hash.update(chunk);
        bar.advance(chunk.byteLength);
      },
    });
  } catch (error) {
    bar.clear();
    // openAsBlob refuses to go on reading a file that changed under it.
    if (
      (error as Error)?.name === 'NotReadableError' ||
      (error as { cause?: Error })?.cause?.name === 'NotReadableError'
    ) {
      throw transferError(`${localPath} changed while it was being uploaded`, 'upload it again once it is complete');
    }
    throw error;
  }
  bar.finish();
  const local = hash.digest('hex');
  if (uploaded.sha256 !== local || uploaded.size !== info.size) {
    throw transferError(
      `upload of ${localPath} arrived damaged (sent ${info.size} bytes, sha256 ${local}; the mothership stored ${uploaded.size} bytes, sha256 ${uploaded.sha256})`,
      'upload it again',
    );
  }
  return uploaded;
}

export interface Downloaded {
  path: string;
  size: number;
  sha256: string;
}

/**
 * Downloads a stored file to `dest` ('-' for stdout), streamed to disk through a temp file in
 * the same directory that is renamed into place only once its sha256 matches the mothership's
 * (X-Content-SHA256). A damaged or interrupted download never leaves a file at `dest`.
 */
export async function downloadFile(
  client: BorgClient,
  fileId: string,
  dest: string,
  options: { force?: boolean; label?: string; stdout?: Writable } = {},
): Promise<Downloaded> {
  const response = await client.downloadFile(fileId);
  const expected = response.headers.get('x-content-sha256') ?? (await client.getFile(fileId)).sha256;
  const total = Number(response.headers.get('content-length') ?? 0);
  const hash = createHash('sha256');
  const bar = new ProgressBar(printable(options.label ?? basename(dest)), total);
  let size = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.byteLength;
      bar.advance(chunk.byteLength);
      callback(null, chunk);
    },
  });
  const body = Readable.fromWeb(response.body! as NodeReadableStream<Uint8Array>);

  if (dest === '-') {
    await pipeline(body, meter, options.stdout ?? process.stdout, { end: false });
    return verify(expected, hash.digest('hex'), size, total, fileId, dest);
  }

  if (!options.force && (await exists(dest))) {
    await response.body?.cancel().catch(() => undefined);
    throw transferError(`${dest} already exists`, 'remove it, choose another destination, or pass --force');
  }
  await mkdir(dirname(dest), { recursive: true });
  const temp = join(dirname(dest), `.${basename(dest)}.borg-${randomBytes(4).toString('hex')}.part`);
  try {
    await pipeline(body, meter, createWriteStream(temp, { flags: 'wx', mode: 0o644 }));
    bar.finish();
    const result = verify(expected, hash.digest('hex'), size, total, fileId, dest);
    await rename(temp, dest);
    return result;
  } catch (error) {
    bar.clear();
    await rm(temp, { force: true });
    if (error instanceof CliError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    if (code && /^E[A-Z]+$/.test(code) && !/^ECONN/.test(code)) {
      throw transferError(`cannot write ${dest} (${code})`, 'check the directory and its free space');
    }
    throw transferError(`download of ${fileId} was interrupted (${(error as Error).message})`, 'run it again');
  }
}

function verify(expected: string, actual: string, size: number, total: number, fileId: string, dest: string) {
  if (actual !== expected || (total > 0 && size !== total)) {
    throw transferError(
      `download of ${fileId} to ${dest} is damaged (got ${size} bytes with sha256 ${actual}, expected ${total} bytes with sha256 ${expected})`,
      'run it again',
    );
  }
  return { path: dest, size, sha256: actual };
}

/**
 * A local name for a stored file: the last segment of the name it was uploaded under, never a
 * path (`../../.bashrc` is someone else's choice of name, not a place to write).
 */
export function localNameFor(info: Pick<FileInfo, 'id' | 'filename'>): string {
  const name = terminalSafe(info.filename.split(/[/\\]/).pop() ?? '', { keepColors: false }).trim();
  return name && name !== '.' && name !== '..' ? name : `file-${info.id}`;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function printable(text: string): string {
  return terminalSafe(text, { keepColors: false });
}
