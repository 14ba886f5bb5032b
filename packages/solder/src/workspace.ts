import { chmod, chown, lstat, mkdir, realpath, rm } from 'node:fs/promises';
import path from 'node:path';

import { isSafeRelativePath } from '@borg/protocol';

/** Task ids become directory names, so only plain characters pass (ids are UUIDs today). */
const TASK_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** A path that would leave the workspace, or pass through a link or a file on the way. */
export class WorkspacePathError extends Error {
  constructor(
    readonly relativePath: string,
    reason: string,
  ) {
    super(`workspace path ${JSON.stringify(relativePath)} refused: ${reason}`);
    this.name = 'WorkspacePathError';
  }
}

/** Who owns a workspace and what Borg places in it, when that is not the solder's own user. */
export interface WorkspaceOwner {
  uid: number;
  gid: number;
}

/**
 * One task's work directory, `<workRoot>/tasks/<taskId>`. The process runs in it, inputs are
 * placed in it, artifacts are collected from it; nothing Borg writes may land outside it.
 *
 * With an owner (a root solder running the task as another user) the workspace is that user's,
 * mode 700, and `<workRoot>/tasks` is root's, mode 711: a task can enter its own workspace but
 * cannot list the others, and cannot enter one that belongs to another uid.
 */
export class Workspace {
  private constructor(
    readonly dir: string,
    readonly owner: WorkspaceOwner | undefined,
  ) {}

  static async create(workRoot: string, taskId: string, owner?: WorkspaceOwner): Promise<Workspace> {
    if (!TASK_ID_PATTERN.test(taskId)) throw new Error(`task id ${JSON.stringify(taskId)} cannot name a workspace`);
    const tasksDir = path.join(path.resolve(workRoot), 'tasks');
    await mkdir(tasksDir, { recursive: true, mode: 0o711 });
    if (owner) await chmod(tasksDir, 0o711);
    const dir = path.join(tasksDir, taskId);
    // Fresh every time: whatever an earlier, crashed run of this task left is not this run's input.
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { mode: 0o700 });
    if (owner) await chown(dir, owner.uid, owner.gid);
    // The real path, so the prefix checks below compare like with like when workRoot sits
    // under a symlink (/tmp on macOS, a bind-mounted home).
    return new Workspace(await realpath(dir), owner);
  }

  /** Gives a file or directory Borg placed in the workspace to its owner. */
  async handOver(file: string): Promise<void> {
    if (this.owner) await chown(file, this.owner.uid, this.owner.gid);
  }

  /**
   * Takes a kept workspace (--keep-workspaces) back from its owner: its uid may be given to a
   * later task, which must not reach this one's files.
   */
  async retire(): Promise<void> {
    if (this.owner) await chown(this.dir, 0, 0);
  }

  /**
   * The absolute path for a relative path inside the workspace, with its parent directories
   * created. Checked three ways, so that one mistake is not enough to escape (B5, B7): the
   * shared path rule; the resolved path against the directory with a separator-terminated
   * prefix (so "/work/tasks/a" cannot pass for "/work/tasks/ab"); and every component that
   * already exists, the last included, is lstat'ed and must not be a symlink.
   *
   * The check holds while nothing else writes to the workspace, which is the case while
   * inputs are placed: the task has not started yet.
   */
  async resolveInside(relativePath: string): Promise<string> {
    if (!isSafeRelativePath(relativePath)) {
      throw new WorkspacePathError(relativePath, 'not a plain relative path (absolute, "..", or forbidden characters)');
    }
    const target = path.resolve(this.dir, relativePath);
    if (!target.startsWith(this.dir + path.sep)) {
      throw new WorkspacePathError(relativePath, 'resolves outside the workspace');
    }

    const components = path.relative(this.dir, target).split(path.sep);
    let current = this.dir;
    for (const [i, component] of components.entries()) {
      current = path.join(current, component);
      const isLast = i === components.length - 1;
      const stats = await lstatOrNull(current);
      if (stats?.isSymbolicLink()) throw new WorkspacePathError(relativePath, `${current} is a symbolic link`);
      if (isLast) break;
      if (stats && !stats.isDirectory()) throw new WorkspacePathError(relativePath, `${current} is not a directory`);
      if (!stats && (await mkdirOnce(current))) await this.handOver(current);
    }
    return target;
  }

  /** Deletes the workspace. Links inside are removed, never followed. */
  async remove(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function lstatOrNull(file: string) {
  try {
    return await lstat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/**
 * Not recursive on purpose: each level was just checked, and mkdir -p would follow links.
 * True when this call made the directory.
 */
async function mkdirOnce(dir: string): Promise<boolean> {
  try {
    await mkdir(dir);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    // Someone made it first (two inputs in one directory): it must still be a real directory.
    const stats = await lstat(dir);
    if (!stats.isDirectory()) throw error;
    return false;
  }
}
