import { createHash } from 'node:crypto';
import { openAsBlob, type Stats } from 'node:fs';
import { lstat, readdir, readlink, realpath } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { type Artifact, BorgApiError, type BorgClient, isSafeRelativePath } from '@borg/protocol';
import picomatch from 'picomatch';

import type { Workspace } from './workspace.ts';

export interface FoundArtifact {
  /** Relative to the workspace, with '/' separators: the artifact's name on the server. */
  path: string;
  absolutePath: string;
  size: number;
}

export interface SkippedArtifact {
  /** The file, or the glob when the glob itself was refused. */
  path: string;
  reason: string;
}

export interface CollectOptions {
  /** Files collected at most; matches past it are reported, not uploaded. Default 1000. */
  maxFiles?: number;
  /** Directory entries looked at at most, so a huge workspace cannot stall the task's end. Default 100,000. */
  maxEntries?: number;
}

/**
 * Finds the workspace files that the job's artifact globs match. The walk starts in the
 * workspace and never follows a symbolic link: a link the globs would have matched or gone
 * through is reported as skipped, whether it points inside the workspace or out of it, so a
 * task cannot make the solder read /etc/passwd or another task's files (B7). Only regular files
 * are collected. Dot files match only when the glob spells the dot (".env", "**\/.*").
 */
export async function collectArtifacts(
  workspace: Pick<Workspace, 'dir'>,
  globs: string[],
  options: CollectOptions = {},
): Promise<{ found: FoundArtifact[]; skipped: SkippedArtifact[] }> {
  const maxFiles = options.maxFiles ?? 1000;
  const maxEntries = options.maxEntries ?? 100_000;
  const found: FoundArtifact[] = [];
  const skipped: SkippedArtifact[] = [];

  const usable: string[] = [];
  for (const glob of new Set(globs)) {
    const problem = globProblem(glob);
    if (problem) skipped.push({ path: glob, reason: `glob refused: ${problem}` });
    else usable.push(glob);
  }
  if (usable.length === 0) return { found, skipped };
  const matches = picomatch(usable, { dot: false });
  const mayDescend = descentMatcher(usable);

  let entries = 0;
  let overflow: { first: string; count: number } | undefined;
  const pending = ['']; // directories still to read, relative, '' being the workspace itself
  walk: while (pending.length > 0) {
    const dir = pending.shift()!;
    let names: string[];
    try {
      names = (await readdir(path.join(workspace.dir, dir))).sort();
    } catch (error) {
      skipped.push({ path: dir || '.', reason: `directory not readable: ${(error as Error).message}` });
      continue;
    }
    for (const name of names) {
      if (++entries > maxEntries) {
        skipped.push({ path: dir || '.', reason: `stopped after ${maxEntries} entries; the rest was not looked at` });
        break walk;
      }
      const relative = dir ? `${dir}/${name}` : name;
      const absolute = path.join(workspace.dir, relative);
      const stats = await lstat(absolute).catch(() => null);
      if (!stats) continue; // removed while we looked: nothing to collect
      if (stats.isSymbolicLink()) {
        if (matches(relative) || mayDescend(relative)) {
          const target = await readlink(absolute).catch(() => '?');
          skipped.push({ path: relative, reason: `symbolic link to ${target}, not followed` });
        }
      } else if (stats.isDirectory()) {
        if (mayDescend(relative)) pending.push(relative);
      } else if (!matches(relative)) {
        continue;
      } else if (!stats.isFile()) {
        skipped.push({ path: relative, reason: 'not a regular file' });
      } else if (!isSafeRelativePath(relative)) {
        skipped.push({
          path: relative,
          reason: 'file name not accepted as an artifact path (control or "\\" characters)',
        });
      } else if (found.length >= maxFiles) {
        overflow = { first: overflow?.first ?? relative, count: (overflow?.count ?? 0) + 1 };
      } else {
        found.push({ path: relative, absolutePath: absolute, size: stats.size });
      }
    }
  }
  if (overflow) {
    skipped.push({
      path: overflow.first,
      reason: `over the limit of ${maxFiles} artifacts: this and ${overflow.count - 1} more matching files were not collected`,
    });
  }
  found.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { found, skipped };
}

/** Why a glob can never name a file inside the workspace, or undefined if it can. */
function globProblem(glob: string): string | undefined {
  if (glob.trim() === '') return 'empty';
  if (glob.startsWith('/') || /^[A-Za-z]:/.test(glob)) return 'absolute; artifact globs are relative to the workspace';
  if (glob.split(/[\\/]/).includes('..')) return 'contains ".."; artifacts come from inside the workspace only';
  return undefined;
}

/**
 * Matches the directories a glob could reach files through: for "out/logs/*.txt" that is
 * "out" and "out/logs"; a "**" reaches everywhere below it. Braces and extglobs may hide a
 * "/" inside, so for those every directory counts.
 */
function descentMatcher(globs: string[]): (dir: string) => boolean {
  const prefixes: string[] = [];
  for (const glob of globs) {
    if (/[{(]/.test(glob)) return () => true;
    const segments = glob.split('/');
    for (let i = 1; i < segments.length; i++) {
      const prefix = segments.slice(0, i);
      prefixes.push(prefix.join('/'));
      if (prefix.at(-1) === '**') break; // "**" itself already matches every depth
    }
  }
  if (prefixes.length === 0) return () => false;
  return picomatch(prefixes, { dot: false });
}

// --- upload ------------------------------------------------------------------------------------

export interface UploadProgress {
  path: string;
  /** Position of this file in the list, from 0, and the list's length. */
  index: number;
  total: number;
  state: 'uploading' | 'retrying' | 'uploaded';
  attempt: number;
  /** What went wrong, when retrying. */
  error?: string;
}

export interface UploadOptions {
  /** Failed answers (5xx, 429) per file before giving up; default 5. Unreachable is waited out. */
  attempts?: number;
  /** Backoff: the first wait is about this long, doubling up to maxDelayMs; default 500 and 10,000. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/** Why an artifact did not reach the mothership. `status` is the HTTP status when it answered. */
export class ArtifactUploadError extends Error {
  constructor(
    readonly path: string,
    message: string,
    readonly status?: number,
    options?: ErrorOptions,
  ) {
    super(`artifact ${path}: ${message}`, options);
    this.name = 'ArtifactUploadError';
  }
}

/**
 * Uploads the collected files one by one, streamed from disk as raw bodies (`PUT
 * /artifacts/upload`, with their sha256 for the server to check). Network failures (for as long as
 * the mothership is unreachable), 5xx and 429 (up to `attempts` answers) are retried with
 * jittered exponential backoff; that is safe because the server acknowledges
 * the same bytes at the same path again instead of storing them twice (F9). Any other answer
 * (409 the task is no longer ours or the path holds other bytes, 403, 413) will not change on
 * a retry, so it ends the upload at once with an ArtifactUploadError. Each stored artifact's
 * sha256 is checked against the local file's.
 */
export async function uploadArtifacts(
  client: BorgClient,
  taskId: string,
  found: FoundArtifact[],
  onProgress?: (progress: UploadProgress) => void,
  options: UploadOptions = {},
): Promise<Artifact[]> {
  const attempts = options.attempts ?? 5;
  const baseDelayMs = options.baseDelayMs ?? 500;
  const maxDelayMs = options.maxDelayMs ?? 10_000;
  const uploaded: Artifact[] = [];

  for (const [index, file] of found.entries()) {
    const { blob, stats } = await openUnchanged(file);
    // Hashed through the same blob that is uploaded: a Blob from openAsBlob refuses to be read
    // once the file has changed, so the hash and the upload see the same bytes or fail.
    const localSha256 = await sha256OfBlob(blob);
    const report = (state: UploadProgress['state'], attempt: number, error?: string) =>
      onProgress?.({ path: file.path, index, total: found.length, state, attempt, ...(error ? { error } : {}) });

    let artifact: Artifact | undefined;
    let attempt = 0;
    let answeredFailures = 0;
    while (!artifact) {
      attempt++;
      report('uploading', attempt);
      try {
        // The server checks the hash too, and keeps nothing of bytes that do not match it.
        artifact = await client.putArtifact(taskId, file.path, blob, { sha256: localSha256 });
      } catch (error) {
        if (!isTransient(error)) throw refusal(file.path, error);
        // A failure without an answer may be the file, not the network: one changed or swapped
        // for a link after it was hashed cannot be read through its blob again, so it must end
        // the upload rather than be retried for ever as if the mothership were away.
        if (!(error instanceof BorgApiError)) await assertUnchanged(file, stats);
        // Only failures the mothership answered (5xx, 429: a full disk, say) use up the tries;
        // while it cannot be reached at all (a restart), the upload waits for it, as status
        // reports do (F9).
        if (error instanceof BorgApiError) answeredFailures++;
        if (answeredFailures >= attempts) {
          throw new ArtifactUploadError(
            file.path,
            `upload failed ${attempt} times, last: ${messageOf(error)}`,
            undefined,
            {
              cause: error,
            },
          );
        }
        report('retrying', attempt, messageOf(error));
        const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(attempt - 1, 20));
        await sleep(ceiling / 2 + Math.random() * (ceiling / 2));
      }
    }
    if (artifact.sha256 !== localSha256 || artifact.size !== blob.size) {
      throw new ArtifactUploadError(
        file.path,
        `the mothership stored ${artifact.size} bytes with sha256 ${artifact.sha256}, ` +
          `but the local file has ${blob.size} bytes with sha256 ${localSha256}`,
      );
    }
    report('uploaded', attempt);
    uploaded.push(artifact);
  }
  return uploaded;
}

/**
 * Opens a collected file again, refusing it if it has since become a link or something else,
 * or if a directory above it has become a link (the resolved path would differ). What remains
 * is a window between this check and the read; it is narrow, and only a process that outlived
 * its task could use it.
 */
async function openUnchanged(file: FoundArtifact): Promise<{ blob: Blob; stats: Stats }> {
  const stats = await lstat(file.absolutePath).catch(() => null);
  if (!stats?.isFile()) {
    throw new ArtifactUploadError(file.path, 'no longer a regular file (changed after it was collected)');
  }
  if ((await realpath(file.absolutePath)) !== file.absolutePath) {
    throw new ArtifactUploadError(file.path, 'now reached through a symbolic link (changed after it was collected)');
  }
  return { blob: (await openAsBlob(file.absolutePath)) as Blob, stats };
}

/** Throws when the file is no longer the one that was opened and hashed. */
async function assertUnchanged(file: FoundArtifact, opened: Stats): Promise<void> {
  const now = await lstat(file.absolutePath).catch(() => null);
  const same =
    now?.isFile() &&
    now.ino === opened.ino &&
    now.dev === opened.dev &&
    now.size === opened.size &&
    now.mtimeMs === opened.mtimeMs &&
    (await realpath(file.absolutePath).catch(() => null)) === file.absolutePath;
  if (!same)
    throw new ArtifactUploadError(file.path, 'changed while it was being uploaded (written to, replaced or linked)');
}

async function sha256OfBlob(blob: Blob): Promise<string> {
  const hash = createHash('sha256');
  const reader = blob.stream().getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return hash.digest('hex');
    hash.update(value);
  }
}

/** Network failures (the client's fetch throws, not a BorgApiError), 5xx and 429 may pass on their own. */
function isTransient(error: unknown): boolean {
  return !(error instanceof BorgApiError) || error.retryable;
}

function refusal(path: string, error: unknown): ArtifactUploadError {
  if (!(error instanceof BorgApiError))
    return new ArtifactUploadError(path, messageOf(error), undefined, { cause: error });
  const hints: Partial<Record<string, string>> = {
    FORBIDDEN: 'this runner does not hold the task',
    STALE_TASK: 'the task is no longer live on this runner',
    CONFLICT: 'different bytes are already stored at this path',
    PAYLOAD_TOO_LARGE: 'the file is larger than the mothership accepts',
  };
  const hint = hints[error.code] ? ` (${hints[error.code]})` : '';
  return new ArtifactUploadError(
    path,
    `the mothership refused it: ${error.status} ${error.code}: ${error.message}${hint}; not retrying`,
    error.status,
    { cause: error },
  );
}

function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // fetch hides the reason ("fetch failed") in its cause: ECONNREFUSED, a reset, …
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error ? `${error.message}: ${cause.message}` : error.message;
}
