import { posix } from 'node:path';

import type { JobFileWithMeta } from '@borg/protocol';
import picomatch from 'picomatch';

import type { UpstreamArtifact } from './job-store.ts';

const matchers = new Map<string, (path: string) => boolean>();

/** A glob as the solder matches artifact paths (picomatch, no dot files), compiled once. */
function matcherOf(glob: string): (path: string) => boolean {
  let matcher = matchers.get(glob);
  if (!matcher) {
    matcher = picomatch(glob, { dot: false });
    if (matchers.size >= 1000) matchers.clear();
    matchers.set(glob, matcher);
  }
  return matcher;
}

/**
 * The upstream artifacts a claimed task takes (`inputs_from`), as input files: those of its job
 * for every element or for its own element, whose path matches the input's glob, placed under
 * the input's path. The solder fetches them by sha256 through its cache like any input file.
 */
export function upstreamInputsOf(
  artifacts: readonly UpstreamArtifact[],
  task: { job_id: string; index: number },
): JobFileWithMeta[] {
  const files: JobFileWithMeta[] = [];
  for (const artifact of artifacts) {
    if (artifact.job_id !== task.job_id || (artifact.index !== null && artifact.index !== task.index)) continue;
    if (!matcherOf(artifact.glob)(artifact.path)) continue;
    files.push({
      file_id: artifact.file_id,
      path: artifact.prefix ? posix.join(artifact.prefix, artifact.path) : artifact.path,
      filename: artifact.filename,
      size: artifact.size,
      sha256: artifact.sha256,
    });
  }
  return files;
}
