import { lstat, mkdir, mkdtemp, readdir, readFile, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { Workspace, WorkspacePathError } from '../src/workspace.ts';

let root: string;
beforeEach(async () => {
  root = await realpath(await mkdtemp(path.join(tmpdir(), 'borg-workspace-')));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('Workspace.create', () => {
  it('makes <workRoot>/tasks/<taskId>, empty, even when an earlier run left files there', async () => {
    const leftover = path.join(root, 'tasks', 'task-1', 'old.txt');
    await mkdir(path.dirname(leftover), { recursive: true });
    await writeFile(leftover, 'from a crashed run');

    const workspace = await Workspace.create(root, 'task-1');
    expect(workspace.dir).toBe(path.join(root, 'tasks', 'task-1'));
    expect(await readdir(workspace.dir)).toEqual([]);
  });

  it.each(['', '../x', 'a/b', '.', '..', '-rf', 'x'.repeat(129), 'a\u0000b'])(
    'refuses task id %j as a directory name',
    async (taskId) => {
      await expect(Workspace.create(root, taskId)).rejects.toThrow(/cannot name a workspace/);
    },
  );
});

describe('Workspace.resolveInside', () => {
  // Case B5 of the reliability test plan, again on the solder's side.
  const hostile = [
    '../x',
    'a/../../x',
    '/etc/passwd',
    'C:\\x',
    '..\\x',
    'a/./../..',
    '%2e%2e/x',
    '%252e%252e/',
    'x\u0000.txt',
    '',
    '.',
    'x'.repeat(4096),
    '\u2025/x', // "‥/" folds to "../"
    '\uff0e\uff0e\uff0fx', // full-width "．．／"
  ];
  it.each(hostile)('refuses %j', async (relativePath) => {
    const workspace = await Workspace.create(root, 'task-1');
    await expect(workspace.resolveInside(relativePath)).rejects.toThrow(WorkspacePathError);
    // Nothing was created on the way to refusing it, inside or beside the workspace.
    expect(await readdir(workspace.dir)).toEqual([]);
    expect((await readdir(root)).sort()).toEqual(['tasks']);
  });

  it('returns the path inside and creates its parent directories', async () => {
    const workspace = await Workspace.create(root, 'task-1');
    const target = await workspace.resolveInside('data/sets/./train.csv');
    expect(target).toBe(path.join(workspace.dir, 'data', 'sets', 'train.csv'));
    expect((await stat(path.join(workspace.dir, 'data', 'sets'))).isDirectory()).toBe(true);
    // The file itself is the caller's to create.
    await expect(lstat(target)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses to go through a directory symlink, whether it leads out or to a sibling task', async () => {
    const outside = path.join(root, 'outside');
    await mkdir(outside);
    const sibling = await Workspace.create(root, 'task-2');
    const workspace = await Workspace.create(root, 'task-1');
    await symlink(outside, path.join(workspace.dir, 'out'));
    await symlink(path.join('..', 'task-2'), path.join(workspace.dir, 'peer'));

    await expect(workspace.resolveInside('out/x.txt')).rejects.toThrow(/is a symbolic link/);
    await expect(workspace.resolveInside('peer/sub/x.txt')).rejects.toThrow(/is a symbolic link/);
    expect(await readdir(outside)).toEqual([]);
    expect(await readdir(sibling.dir)).toEqual([]);
  });

  it('refuses a path that is itself a symlink, and one that runs through a file', async () => {
    const workspace = await Workspace.create(root, 'task-1');
    await symlink('/etc/passwd', path.join(workspace.dir, 'input.txt'));
    await writeFile(path.join(workspace.dir, 'plain'), 'a file, not a directory');

    await expect(workspace.resolveInside('input.txt')).rejects.toThrow(/is a symbolic link/);
    await expect(workspace.resolveInside('plain/x.txt')).rejects.toThrow(/is not a directory/);
  });
});

describe('Workspace.remove', () => {
  it('deletes the workspace and the links in it, never what they point to', async () => {
    const precious = path.join(root, 'precious.txt');
    await writeFile(precious, 'keep me');
    const workspace = await Workspace.create(root, 'task-1');
    await mkdir(path.join(workspace.dir, 'deep', 'er'), { recursive: true });
    await symlink(root, path.join(workspace.dir, 'deep', 'er', 'root-link'));

    await workspace.remove();
    await expect(lstat(workspace.dir)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await readFile(precious, 'utf8')).toBe('keep me');
  });
});
