import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { BorgClient, type ClaimedTask } from '@borg/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';
import { ArtifactUploadError, collectArtifacts, uploadArtifacts, type UploadProgress } from '../src/artifacts.ts';
import { Workspace } from '../src/workspace.ts';

const borg = useTestMothership();

let root: string;
beforeEach(async () => {
  root = await realpath(await mkdtemp(path.join(tmpdir(), 'borg-artifacts-')));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function put(workspace: Workspace, relative: string, content: string | Uint8Array): Promise<void> {
  const file = path.join(workspace.dir, relative);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
}

/** Submits a job and claims its task as running, as the solder holds it while uploading. */
async function runningTask(runner: TestRunner): Promise<ClaimedTask> {
  await borg().admin.createJob({ name: 'artifacts', type: 'shell', command: 'true', artifacts: ['out/*.txt'] });
  const task = (await runner.client.nextTasks(runner.id, { wait: 0, max: 1 }))!.items[0]!;
  await runner.client.reportTaskStatus(task.id, { status: 'running' });
  return task;
}

/** Whether a request is an artifact upload (whatever its query). */
const isUpload = (input: string | URL | Request) => new URL(String(input)).pathname.endsWith('/artifacts/upload');

/**
 * A runner client whose uploads can be made to fail first: the listed faults are served in
 * order, one per upload request, before requests reach the mothership again.
 */
function uploadingClient(runner: TestRunner, faults: Array<'network' | 503> = []) {
  const counts = { uploads: 0, requests: [] as string[] };
  const wrapped: typeof fetch = async (input, init) => {
    if (!isUpload(input)) return fetch(input, init);
    counts.uploads++;
    counts.requests.push(`${init?.method} ${init?.headers ? new Headers(init.headers).get('content-type') : ''}`);
    const fault = faults.shift();
    if (fault === 'network') throw new TypeError('fetch failed', { cause: new Error('socket hang up') });
    if (fault === 503) {
      const body = { error: { code: 'DATABASE_UNAVAILABLE', message: 'try again' } };
      return new Response(JSON.stringify(body), { status: 503, headers: { 'content-type': 'application/json' } });
    }
    return fetch(input, init);
  };
  return { client: new BorgClient({ baseUrl: borg().url, token: runner.token, fetch: wrapped }), counts };
}

describe('collectArtifacts', () => {
  it('collects matching regular files and skips links, whether they lead out or to another task', async () => {
    const sibling = await Workspace.create(root, 'other-task');
    await put(sibling, 'secret.txt', 'not yours');
    const workspace = await Workspace.create(root, 'task-1');
    await put(workspace, 'out/a.txt', 'alpha');
    await put(workspace, 'out/b.txt', 'beta');
    await put(workspace, 'out/nested/c.txt', 'gamma');
    await put(workspace, 'out/.hidden.txt', 'dot files only when the glob names the dot');
    await put(workspace, 'out/skip.log', 'does not match');
    await put(workspace, 'top.txt', 'outside out/');
    await symlink('/etc/passwd', path.join(workspace.dir, 'out', 'passwd.txt'));
    await symlink('../../other-task', path.join(workspace.dir, 'out', 'peer'));
    execFileSync('mkfifo', [path.join(workspace.dir, 'out', 'pipe.txt')]);

    const { found, skipped } = await collectArtifacts(workspace, ['out/*.txt', 'out/**/*.txt', '/etc/*', '../*.txt']);

    expect(found).toEqual([
      { path: 'out/a.txt', absolutePath: path.join(workspace.dir, 'out/a.txt'), size: 5 },
      { path: 'out/b.txt', absolutePath: path.join(workspace.dir, 'out/b.txt'), size: 4 },
      { path: 'out/nested/c.txt', absolutePath: path.join(workspace.dir, 'out/nested/c.txt'), size: 5 },
    ]);
    expect(skipped).toEqual(
      expect.arrayContaining([
        { path: '/etc/*', reason: expect.stringMatching(/^glob refused: absolute/) },
        { path: '../*.txt', reason: expect.stringMatching(/^glob refused: contains "\.\."/) },
        { path: 'out/passwd.txt', reason: 'symbolic link to /etc/passwd, not followed' },
        { path: 'out/peer', reason: 'symbolic link to ../../other-task, not followed' },
        { path: 'out/pipe.txt', reason: 'not a regular file' },
      ]),
    );
    expect(skipped).toHaveLength(5);
  });

  it('collects dot files when the glob spells the dot', async () => {
    const workspace = await Workspace.create(root, 'task-1');
    await put(workspace, 'out/.hidden.txt', 'x');
    await put(workspace, 'out/seen.txt', 'x');
    const { found } = await collectArtifacts(workspace, ['out/.*.txt']);
    expect(found.map((f) => f.path)).toEqual(['out/.hidden.txt']);
  });

  it('stops at the file limit and says how many matches it left out', async () => {
    const workspace = await Workspace.create(root, 'task-1');
    for (const name of ['1', '2', '3', '4', '5']) await put(workspace, `out/${name}.txt`, name);
    const { found, skipped } = await collectArtifacts(workspace, ['out/*.txt'], { maxFiles: 2 });
    expect(found.map((f) => f.path)).toEqual(['out/1.txt', 'out/2.txt']);
    expect(skipped).toEqual([
      { path: 'out/3.txt', reason: 'over the limit of 2 artifacts: this and 2 more matching files were not collected' },
    ]);
  });
});

describe('uploadArtifacts', () => {
  it('stores each collected file on the mothership with the local size and sha256', async () => {
    const runner = await borg().registerRunner();
    const task = await runningTask(runner);
    const workspace = await Workspace.create(root, task.id);
    await put(workspace, 'out/small.txt', 'hello\n');
    await put(workspace, 'out/large.txt', randomBytes(3_000_000));
    const { found } = await collectArtifacts(workspace, task.artifacts);
    const progress: UploadProgress[] = [];
    const { client, counts } = uploadingClient(runner);

    const stored = await uploadArtifacts(client, task.id, found, (p) => progress.push(p));
    // Each file went as the raw body of PUT /artifacts/upload, not as multipart.
    expect(counts.requests).toEqual(found.map(() => 'PUT application/octet-stream'));

    const listed = (await borg().admin.listArtifacts(task.id)).items;
    expect(listed.map(({ path, size, sha256 }) => ({ path, size, sha256 }))).toEqual(
      await Promise.all(
        found.map(async (file) => {
          const bytes = await readFile(file.absolutePath);
          return { path: file.path, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
        }),
      ),
    );
    expect(stored.map((a) => a.id).sort()).toEqual(listed.map((a) => a.id).sort());
    expect(progress.filter((p) => p.state === 'uploaded').map((p) => p.path)).toEqual(found.map((f) => f.path));

    // Uploading the same files again (a retry after a lost answer) is acknowledged, not doubled.
    const again = await uploadArtifacts(runner.client, task.id, found);
    expect(again.map((a) => a.id)).toEqual(stored.map((a) => a.id));
    expect((await borg().admin.listArtifacts(task.id)).items).toHaveLength(2);
  });

  it('retries a network failure and a 503, then succeeds', async () => {
    const runner = await borg().registerRunner();
    const task = await runningTask(runner);
    const workspace = await Workspace.create(root, task.id);
    await put(workspace, 'out/result.txt', 'survived\n');
    const { found } = await collectArtifacts(workspace, task.artifacts);
    const { client, counts } = uploadingClient(runner, ['network', 503]);
    const progress: UploadProgress[] = [];

    await uploadArtifacts(client, task.id, found, (p) => progress.push(p), { baseDelayMs: 1 });

    expect(counts.uploads).toBe(3);
    expect(progress.map((p) => `${p.state}#${p.attempt}`)).toEqual([
      'uploading#1',
      'retrying#1',
      'uploading#2',
      'retrying#2',
      'uploading#3',
      'uploaded#3',
    ]);
    expect(progress[1]!.error).toBe('fetch failed: socket hang up');
    expect((await borg().admin.listArtifacts(task.id)).items.map((a) => a.path)).toEqual(['out/result.txt']);
  });

  it('waits out a mothership it cannot reach (a restart) beyond its tries, but gives up after that many 5xx answers (F9, F14)', async () => {
    const runner = await borg().registerRunner();
    const task = await runningTask(runner);
    const workspace = await Workspace.create(root, task.id);
    await put(workspace, 'out/result.txt', 'survived a restart\n');
    const { found } = await collectArtifacts(workspace, task.artifacts);
    const unreachable = uploadingClient(runner, Array<'network'>(6).fill('network'));
    await uploadArtifacts(unreachable.client, task.id, found, undefined, { attempts: 3, baseDelayMs: 1 });
    expect(unreachable.counts.uploads).toBe(7);

    const failing = uploadingClient(runner, [503, 503, 503]);
    await expect(
      uploadArtifacts(failing.client, task.id, found, undefined, { attempts: 3, baseDelayMs: 1 }),
    ).rejects.toThrow(/upload failed 3 times/);
  });

  it('gives up at once, with a clear error, when the task is no longer held', async () => {
    const runner = await borg().registerRunner();
    const task = await runningTask(runner);
    const workspace = await Workspace.create(root, task.id);
    await put(workspace, 'out/late.txt', 'too late\n');
    const { found } = await collectArtifacts(workspace, task.artifacts);
    await runner.client.reportTaskStatus(task.id, { status: 'succeeded', exit_code: 0 });
    const { client, counts } = uploadingClient(runner);

    const failure = uploadArtifacts(client, task.id, found, undefined, { baseDelayMs: 1 });
    await expect(failure).rejects.toThrow(ArtifactUploadError);
    await expect(failure).rejects.toMatchObject({
      status: 409,
      message: expect.stringMatching(
        /^artifact out\/late\.txt: the mothership refused it: 409 STALE_TASK: .*not retrying$/,
      ),
    });
    expect(counts.uploads).toBe(1);
  });

  it('refuses a file that became a symlink after it was collected', async () => {
    const runner = await borg().registerRunner();
    const task = await runningTask(runner);
    const workspace = await Workspace.create(root, task.id);
    await put(workspace, 'out/swap.txt', 'innocent\n');
    const { found } = await collectArtifacts(workspace, task.artifacts);
    // B7's check-then-use race: the file is swapped for a link between collect and upload.
    await rm(found[0]!.absolutePath);
    await symlink('/etc/passwd', found[0]!.absolutePath);

    await expect(uploadArtifacts(runner.client, task.id, found)).rejects.toThrow(
      'artifact out/swap.txt: no longer a regular file (changed after it was collected)',
    );
    expect((await borg().admin.listArtifacts(task.id)).items).toEqual([]);
  });

  it('never sends what a link points to when the file is swapped after it was hashed, mid-upload', async () => {
    const runner = await borg().registerRunner();
    const task = await runningTask(runner);
    const workspace = await Workspace.create(root, task.id);
    await put(workspace, 'out/swap.txt', 'innocent\n');
    const secret = path.join(root, 'secret.txt');
    await writeFile(secret, 'TOP-SECRET\n');
    const { found } = await collectArtifacts(workspace, task.artifacts);
    let sent = '';
    // The swap happens as the upload request leaves: after the checks and the hash.
    const swapping: typeof fetch = async (input, init) => {
      if (isUpload(input)) {
        await rm(found[0]!.absolutePath);
        await symlink(secret, found[0]!.absolutePath);
        const body = init?.body;
        if (body instanceof Blob) sent = await body.text().catch(() => '');
      }
      return fetch(input, init);
    };
    const client = new BorgClient({ baseUrl: borg().url, token: runner.token, fetch: swapping });
    // Refused at once, not retried for ever as if the mothership were unreachable.
    await expect(uploadArtifacts(client, task.id, found, undefined, { baseDelayMs: 1 })).rejects.toThrow(
      'artifact out/swap.txt: changed while it was being uploaded',
    );
    expect(sent).not.toContain('TOP-SECRET');
    const stored = (await borg().admin.listArtifacts(task.id)).items;
    for (const artifact of stored) {
      const bytes = await (await borg().admin.downloadFile(artifact.file_id)).text();
      expect(bytes).not.toContain('TOP-SECRET');
    }
  });
});
