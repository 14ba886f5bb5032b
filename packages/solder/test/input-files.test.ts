import { createHash, randomBytes } from 'node:crypto';
import { chmod, lstat, mkdtemp, readdir, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { BorgClient, type ClaimedTask, type JobFileWithMeta } from '@borg/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';
import { InputCache } from '../src/input-files.ts';
import { Workspace, WorkspacePathError } from '../src/workspace.ts';

const borg = useTestMothership();

let root: string;
beforeEach(async () => {
  root = await realpath(await mkdtemp(path.join(tmpdir(), 'borg-inputs-')));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * A runner client whose fetch counts file downloads and can damage them on the way: the only
 * fake in these tests, standing in for a bad network or a bad proxy.
 */
function runnerClient(runner: TestRunner, damage?: (bytes: Uint8Array<ArrayBuffer>) => Uint8Array<ArrayBuffer>) {
  const counts = { downloads: 0 };
  const wrapped: typeof fetch = async (input, init) => {
    const response = await fetch(input, init);
    if (!String(input).endsWith('/download')) return response;
    counts.downloads++;
    if (!damage || !response.ok) return response;
    const bytes = damage(new Uint8Array(await response.arrayBuffer()));
    return new Response(bytes, { status: response.status, headers: response.headers });
  };
  return { client: new BorgClient({ baseUrl: borg().url, token: runner.token, fetch: wrapped }), counts };
}

/** Submits a job with these inputs and claims its task, as the solder would get it. */
async function claimTaskWith(
  runner: TestRunner,
  files: Array<{ file_id: string; path: string }>,
): Promise<ClaimedTask> {
  await borg().admin.createJob({ name: 'inputs', type: 'shell', command: 'true', files });
  const next = await runner.client.nextTasks(runner.id, { wait: 0, max: 1 });
  expect(next?.items).toHaveLength(1);
  return next!.items[0]!;
}

async function upload(bytes: Uint8Array, name: string) {
  return borg().admin.uploadFile(new Blob([new Uint8Array(bytes)]), name);
}

describe('InputCache.place', () => {
  it('puts each input at its path with the right bytes, and keeps one copy per hash', async () => {
    const runner = await borg().registerRunner({ max_concurrent_tasks: 4 });
    const data = randomBytes(300_000);
    const settings = new TextEncoder().encode('{"epochs": 3}\n');
    const [dataFile, settingsFile] = await Promise.all([upload(data, 'data.bin'), upload(settings, 'settings.json')]);
    const task = await claimTaskWith(runner, [
      { file_id: dataFile.id, path: 'in/data.bin' },
      { file_id: settingsFile.id, path: 'config/settings.json' },
    ]);
    const { client, counts } = runnerClient(runner);
    const cache = new InputCache(path.join(root, 'cache'), client);
    const workspace = await Workspace.create(root, task.id);

    await cache.place(task.files, workspace);

    expect(await readFile(path.join(workspace.dir, 'in', 'data.bin'))).toEqual(data);
    expect(await readFile(path.join(workspace.dir, 'config', 'settings.json'), 'utf8')).toBe('{"epochs": 3}\n');
    expect(counts.downloads).toBe(2);
    expect((await readdir(path.join(root, 'cache'))).sort()).toEqual([sha256(data), sha256(settings)].sort());
  });

  it('does not download again for a second task that uses the same file', async () => {
    const runner = await borg().registerRunner({ max_concurrent_tasks: 4 });
    const data = randomBytes(50_000);
    const file = await upload(data, 'shared.bin');
    const first = await claimTaskWith(runner, [{ file_id: file.id, path: 'shared.bin' }]);
    const second = await claimTaskWith(runner, [{ file_id: file.id, path: 'elsewhere/renamed.bin' }]);
    const { client, counts } = runnerClient(runner);
    const cache = new InputCache(path.join(root, 'cache'), client);

    const firstWorkspace = await Workspace.create(root, first.id);
    await cache.place(first.files, firstWorkspace);
    const secondWorkspace = await Workspace.create(root, second.id);
    await cache.place(second.files, secondWorkspace);

    expect(counts.downloads).toBe(1);
    expect(await readFile(path.join(secondWorkspace.dir, 'elsewhere', 'renamed.bin'))).toEqual(data);
  });

  it('shares one download between tasks that need the same file at the same time', async () => {
    const runner = await borg().registerRunner({ max_concurrent_tasks: 4 });
    const data = randomBytes(2_000_000);
    const file = await upload(data, 'big.bin');
    const tasks = [
      await claimTaskWith(runner, [{ file_id: file.id, path: 'big.bin' }]),
      await claimTaskWith(runner, [{ file_id: file.id, path: 'big.bin' }]),
      await claimTaskWith(runner, [{ file_id: file.id, path: 'big.bin' }]),
    ];
    const { client, counts } = runnerClient(runner);
    const cache = new InputCache(path.join(root, 'cache'), client);

    const workspaces = await Promise.all(tasks.map((task) => Workspace.create(root, task.id)));
    await Promise.all(tasks.map((task, i) => cache.place(task.files, workspaces[i]!)));

    expect(counts.downloads).toBe(1);
    for (const workspace of workspaces) {
      expect(sha256(await readFile(path.join(workspace.dir, 'big.bin')))).toBe(file.sha256);
    }
  });

  it('rejects a download whose bytes were changed on the way, and caches nothing', async () => {
    const runner = await borg().registerRunner();
    const data = randomBytes(10_000);
    const file = await upload(data, 'model.bin');
    const task = await claimTaskWith(runner, [{ file_id: file.id, path: 'model.bin' }]);
    const flipOneByte = (bytes: Uint8Array<ArrayBuffer>) => {
      bytes[1234] = bytes[1234]! ^ 0xff;
      return bytes;
    };
    const cacheDir = path.join(root, 'cache');
    const workspace = await Workspace.create(root, task.id);

    const tampered = new InputCache(cacheDir, runnerClient(runner, flipOneByte).client);
    await expect(tampered.place(task.files, workspace)).rejects.toThrow(
      new RegExp(`^input file model\\.bin: sha256 mismatch \\(expected ${file.sha256}, got [0-9a-f]{64}\\)$`),
    );
    expect(await readdir(cacheDir)).toEqual([]); // not even a temp file
    expect(await readdir(workspace.dir)).toEqual([]);

    // The refused copy poisoned nothing: an honest download afterwards works.
    await new InputCache(cacheDir, runnerClient(runner).client).place(task.files, workspace);
    expect(await readFile(path.join(workspace.dir, 'model.bin'))).toEqual(data);
  });

  it('rejects a download that ends early', async () => {
    const runner = await borg().registerRunner();
    const file = await upload(randomBytes(10_000), 'cut.bin');
    const task = await claimTaskWith(runner, [{ file_id: file.id, path: 'cut.bin' }]);
    const cacheDir = path.join(root, 'cache');
    const cache = new InputCache(cacheDir, runnerClient(runner, (bytes) => bytes.slice(0, 4096)).client);

    await expect(cache.place(task.files, await Workspace.create(root, task.id))).rejects.toThrow(
      'input file cut.bin: size mismatch (expected 10000 bytes, got 4096)',
    );
    expect(await readdir(cacheDir)).toEqual([]);
  });

  it('gives each workspace its own copy: a task rewriting its input changes nothing a later task gets', async () => {
    const runner = await borg().registerRunner({ max_concurrent_tasks: 4 });
    const data = randomBytes(20_000);
    const file = await upload(data, 'input.bin');
    const first = await claimTaskWith(runner, [{ file_id: file.id, path: 'input.bin' }]);
    const second = await claimTaskWith(runner, [{ file_id: file.id, path: 'input.bin' }]);
    const { client, counts } = runnerClient(runner);
    const cacheDir = path.join(root, 'cache');
    const cache = new InputCache(cacheDir, client);
    const firstWorkspace = await Workspace.create(root, first.id);
    await cache.place(first.files, firstWorkspace);

    // The first task overrides the read-only mode and rewrites its input in place (as a root
    // container can without asking): its copy is not the cached file.
    const placed = path.join(firstWorkspace.dir, 'input.bin');
    const cached = path.join(cacheDir, file.sha256);
    expect((await lstat(placed)).ino).not.toBe((await lstat(cached)).ino);
    expect((await lstat(placed)).nlink).toBe(1);
    expect((await lstat(placed)).mode & 0o777).toBe(0o444);
    await chmod(placed, 0o644);
    await writeFile(placed, randomBytes(20_000));

    const secondWorkspace = await Workspace.create(root, second.id);
    await cache.place(second.files, secondWorkspace);
    expect(counts.downloads).toBe(1);
    expect(await readFile(cached)).toEqual(data);
    expect(await readFile(path.join(secondWorkspace.dir, 'input.bin'))).toEqual(data);
    expect((await lstat(cacheDir)).mode & 0o777).toBe(0o700);
  });

  it('refuses a path that leaves the workspace before downloading anything', async () => {
    const runner = await borg().registerRunner();
    const file = await upload(new TextEncoder().encode('payload'), 'x');
    const task = await claimTaskWith(runner, [{ file_id: file.id, path: 'x' }]);
    const { client, counts } = runnerClient(runner);
    const workspace = await Workspace.create(root, task.id);
    const cache = new InputCache(path.join(root, 'cache'), client);

    // The server refuses such paths at job creation; place() is called directly to prove the
    // solder refuses them again on its own.
    for (const evil of ['../x', 'a/../../x', '/tmp/x', '%2e%2e/x']) {
      const files = [{ ...task.files[0]!, path: evil }];
      await expect(cache.place(files, workspace)).rejects.toThrow(WorkspacePathError);
    }
    expect(counts.downloads).toBe(0);
    await expect(lstat(path.join(root, 'tasks', 'x'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(lstat(path.join(root, 'x'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('never writes through a symlink already in the workspace', async () => {
    const runner = await borg().registerRunner();
    const file = await upload(new TextEncoder().encode('payload'), 'x');
    const task = await claimTaskWith(runner, [{ file_id: file.id, path: 'target.txt' }]);
    const workspace = await Workspace.create(root, task.id);
    const victim = path.join(root, 'victim.txt');
    await writeFile(victim, 'original');
    await symlink(victim, path.join(workspace.dir, 'target.txt'));

    const cache = new InputCache(path.join(root, 'cache'), runnerClient(runner).client);
    await expect(cache.place(task.files, workspace)).rejects.toThrow(/is a symbolic link/);
    expect(await readFile(victim, 'utf8')).toBe('original');
  });
});

describe('InputCache size cap (--cache-size)', () => {
  const CAP = 100_000;
  const SIZE = 40_000; // two fit under the cap, three do not

  /** Uploads files of these sizes and claims one task that lists them all: their metadata, in order. */
  async function inputs(runner: TestRunner, sizes: number[]) {
    const uploaded = await Promise.all(sizes.map((size, i) => upload(randomBytes(size), `f${i}.bin`)));
    const task = await claimTaskWith(
      runner,
      uploaded.map((file, i) => ({ file_id: file.id, path: `f${i}.bin` })),
    );
    return task.files;
  }

  let workspaces = 0;
  const freshWorkspace = () => Workspace.create(root, `ws-${workspaces++}`);
  const cacheDir = () => path.join(root, 'cache');
  const held = async () => (await readdir(cacheDir())).sort();
  const names = (...files: JobFileWithMeta[]) => files.map((file) => file.sha256).sort();

  /** Places one file for a task that ends at once. */
  async function use(cache: InputCache, file: JobFileWithMeta) {
    const workspace = await freshWorkspace();
    const lease = await cache.place([file], workspace);
    expect(sha256(await readFile(path.join(workspace.dir, file.path)))).toBe(file.sha256);
    await lease.release();
  }

  it('removes the least recently used file when a download would pass the cap', async () => {
    const runner = await borg().registerRunner();
    const [a, b, c] = await inputs(runner, [SIZE, SIZE, SIZE]);
    const { client, counts } = runnerClient(runner);
    const cache = new InputCache(cacheDir(), client, CAP);

    await use(cache, a!);
    await use(cache, b!);
    expect(await held()).toEqual(names(a!, b!));
    await use(cache, c!);
    expect(await held()).toEqual(names(b!, c!));
    expect(cache.usedBytes).toBe(2 * SIZE);

    await use(cache, a!); // downloaded again, and b goes
    expect(counts.downloads).toBe(4);
    expect(await held()).toEqual(names(c!, a!));
  });

  it('makes a file used again the most recent', async () => {
    const runner = await borg().registerRunner();
    const [a, b, c] = await inputs(runner, [SIZE, SIZE, SIZE]);
    const { client, counts } = runnerClient(runner);
    const cache = new InputCache(cacheDir(), client, CAP);

    await use(cache, a!);
    await use(cache, b!);
    await use(cache, a!); // a hit: no download, a is now newer than b
    expect(counts.downloads).toBe(2);
    await use(cache, c!);
    expect(await held()).toEqual(names(a!, c!));
  });

  it('never removes a file a running task holds, and trims once the task ends', async () => {
    const runner = await borg().registerRunner({ max_concurrent_tasks: 4 });
    const [a, b, c] = await inputs(runner, [SIZE, SIZE, SIZE]);
    const { client } = runnerClient(runner);
    const cache = new InputCache(cacheDir(), client, CAP);

    const holdingA = await cache.place([a!], await freshWorkspace());
    const holdingB = await cache.place([b!], await freshWorkspace());
    // Nothing may go: running tasks hold all three, so the cache passes its cap for now.
    const holdingC = await cache.place([c!], await freshWorkspace());
    expect(await held()).toEqual(names(a!, b!, c!));
    expect(sha256(await readFile(path.join(cacheDir(), a!.sha256)))).toBe(a!.sha256);

    // a's task ends: a is the least recently used and no task holds it now, so it goes.
    await holdingA.release();
    expect(await held()).toEqual(names(b!, c!));
    await holdingB.release();
    await holdingC.release();
    expect(await held()).toEqual(names(b!, c!));
    expect(cache.usedBytes).toBe(2 * SIZE);
  });

  it('uses a file larger than the whole cache, then drops it when its task ends', async () => {
    const runner = await borg().registerRunner();
    const [small, big] = await inputs(runner, [SIZE, CAP + 50_000]);
    const { client, counts } = runnerClient(runner);
    const cache = new InputCache(cacheDir(), client, CAP);
    await use(cache, small!);

    const workspace = await freshWorkspace();
    const lease = await cache.place([big!], workspace);
    expect(sha256(await readFile(path.join(workspace.dir, big!.path)))).toBe(big!.sha256);
    expect(await held()).toEqual(names(big!)); // the small one made what room it could
    await lease.release();
    expect(await held()).toEqual([]);
    expect(cache.usedBytes).toBe(0);

    await use(cache, big!); // a later task downloads it again
    expect(counts.downloads).toBe(3);
  });

  it('counts the files a previous run left, oldest first, and applies a lowered cap at once', async () => {
    const runner = await borg().registerRunner();
    const [a, b] = await inputs(runner, [SIZE, SIZE]);
    const earlier = new InputCache(cacheDir(), runnerClient(runner).client, CAP);
    await use(earlier, a!);
    await use(earlier, b!);

    const { client, counts } = runnerClient(runner);
    const restarted = new InputCache(cacheDir(), client, SIZE + 10_000);
    await use(restarted, b!); // the cap leaves room for one: a, the older, went at start
    expect(counts.downloads).toBe(0);
    expect(await held()).toEqual(names(b!));
  });
});
