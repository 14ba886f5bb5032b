import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { finishedJob, type InProcessSolder, startSolder } from '../../../test/test-solder.ts';

const run = promisify(execFile);
const IMAGE = 'localhost/borg-test:latest';
// ../shared sits beside the repository, on a developer's machine and in CI alike.
const RUNTIME_SCRIPT = fileURLToPath(new URL('../../../../shared/scripts/container-runtime.sh', import.meta.url));

/** podman and the test image, set up by the shared script if this machine lacks them. */
async function containerRuntime(): Promise<string | undefined> {
  process.env.CONTAINERS_CONF ??= '/etc/containers/borg.conf';
  try {
    await run('podman', ['image', 'exists', IMAGE]);
    return undefined;
  } catch {
    try {
      await run('bash', [RUNTIME_SCRIPT], { timeout: 300_000 });
      return undefined;
    } catch (error) {
      return `podman could not be set up: ${(error as Error).message}`;
    }
  }
}

describe('container tasks through the solder (podman)', () => {
  const borg = useTestMothership();
  let solder: InProcessSolder;
  let unavailable: string | undefined;

  beforeAll(async () => {
    unavailable = await containerRuntime();
    if (!unavailable) solder = await startSolder(borg(), { containerCli: 'podman', cancelGracePeriod: 2 });
  }, 320_000);
  afterAll(async () => {
    await solder?.stop({ cancelRunning: true });
  });

  const finished = (jobId: string) => finishedJob(borg(), jobId, 60_000);

  it('runs in the image with its input files and env, and its artifact is stored', async (context) => {
    if (unavailable) return context.skip(unavailable);
    const input = await borg().admin.uploadFile(new Blob(['hello from the host\n']), 'in.txt');
    const job = await borg().admin.createJob({
      name: 'container',
      type: 'container',
      image: IMAGE,
      command: [
        'sh',
        '-c',
        'cat data/in.txt; echo "index $BORG_TASK_INDEX $GREETING"; mkdir -p out; echo made-inside > out/result.txt',
      ],
      env: { GREETING: 'hi' },
      files: [{ file_id: input.id, path: 'data/in.txt' }],
      artifacts: ['out/*.txt'],
    });
    const done = await finished(job.id);
    expect(done.status).toBe('succeeded');
    const task = done.tasks[0]!;
    const logs = await borg().admin.getTaskLogs(task.id);
    expect(logs.items.filter((l) => l.stream === 'stdout').map((l) => l.message)).toEqual([
      'hello from the host',
      'index 0 hi',
    ]);
    const [artifact] = (await borg().admin.listArtifacts(task.id)).items;
    expect(artifact?.path).toBe('out/result.txt');
    expect(await (await borg().admin.downloadFile(artifact!.file_id)).text()).toBe('made-inside\n');
  });

  it('is stopped when cancelled, and no container is left behind', async (context) => {
    if (unavailable) return context.skip(unavailable);
    const marker = `m${randomBytes(4).toString('hex')}`;
    const job = await borg().admin.createJob({
      name: 'container-cancel',
      type: 'container',
      image: IMAGE,
      command: ['sh', '-c', `echo ${marker}; exec sleep 1000`],
    });
    const taskId = await vi.waitFor(
      async () => {
        const task = (await borg().admin.getJob(job.id)).tasks[0];
        expect(task?.status, 'the task to be running').toBe('running');
        const logs = await borg().admin.getTaskLogs(task!.id);
        expect(
          logs.items.map((l) => l.message),
          'its first line to be stored',
        ).toContain(marker);
        return task!.id;
      },
      { timeout: 60_000 },
    );
    await borg().admin.cancelJob(job.id);
    const done = await finished(job.id);
    expect(done.tasks[0]).toMatchObject({ id: taskId, status: 'cancelled', reason: 'cancelled' });
    const { stdout } = await run('podman', ['ps', '-a', '--filter', `name=borg-${taskId}`, '--format', '{{.Names}}']);
    expect(stdout.trim()).toBe('');
  });
});
