import { execFile, execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, test, type TestContext } from 'vitest';

import {
  ContainerExecutor,
  containerName,
  type ExecutionSpec,
  type OutputSink,
  removeOrphanContainers,
} from '../src/executors/index.ts';

const execFileAsync = promisify(execFile);
const IMAGE = 'localhost/borg-test:latest';
// ../shared sits beside the repository, on a developer's machine and in CI alike.
const RUNTIME_SCRIPT = fileURLToPath(new URL('../../../../shared/scripts/container-runtime.sh', import.meta.url));
const CONF = '/etc/containers/borg.conf';
// Unique per run, so that labels and names never meet another test run's containers.
const solderId = `test-${randomUUID()}`;

class Captured implements OutputSink {
  readonly out: Buffer[] = [];
  readonly err: Buffer[] = [];
  stdout(chunk: Buffer): void {
    this.out.push(chunk);
  }
  stderr(chunk: Buffer): void {
    this.err.push(chunk);
  }
  get stdoutText(): string {
    return Buffer.concat(this.out).toString();
  }
}

async function podman(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync('podman', args, { env: process.env });
  return stdout;
}

async function runtimeReady(): Promise<boolean> {
  try {
    await podman('image', 'exists', IMAGE);
    return true;
  } catch {
    return false;
  }
}

/** Why the runtime could not be prepared; undefined when podman and the image are usable. */
let unavailable: string | undefined;
let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'borg-container-'));
  process.env.CONTAINERS_CONF ??= CONF;
  if (await runtimeReady()) return;
  try {
    // Installs podman + runc and builds the image; prints the CONTAINERS_CONF to use.
    const { stdout } = await execFileAsync('bash', [RUNTIME_SCRIPT], { timeout: 170_000 });
    const conf = /CONTAINERS_CONF=(\S+)/.exec(stdout)?.[1];
    if (conf) process.env.CONTAINERS_CONF = conf;
    if (!(await runtimeReady())) unavailable = `${IMAGE} is still missing after ${RUNTIME_SCRIPT}`;
  } catch (error) {
    unavailable = `${RUNTIME_SCRIPT} failed: ${(error as Error).message}`;
  }
}, 180_000);

afterAll(async () => {
  if (!unavailable) await removeOrphanContainers('podman', solderId);
  await rm(workDir, { recursive: true, force: true });
});

function needsRuntime(ctx: TestContext): void {
  if (unavailable) ctx.skip(`no container runtime: ${unavailable}`);
}

function spec(command: string[], extra: Partial<ExecutionSpec> = {}): ExecutionSpec {
  const taskId = `t-${randomUUID()}`;
  return { taskId, jobId: 'job-1', type: 'container', command, image: IMAGE, env: {}, workDir, ...extra };
}

async function containersNamed(name: string): Promise<string> {
  return (await podman('ps', '-a', `--filter=name=^${name}$`, '-q')).trim();
}

describe('container argv (no runtime needed)', () => {
  const executor = new ContainerExecutor({ cli: 'podman', solderId: 'solder-1' });

  test('is an array with labels, mount, network, and env names without their values', () => {
    const task = spec(['sh', '-c', 'echo "$TOKEN"', '--privileged'], { env: { TOKEN: 'hunter2' } });
    const { args, env } = executor.runArguments(task);
    expect(args.slice(0, 9)).toEqual([
      'run',
      '--rm',
      `--name=borg-${task.taskId}`,
      `--label=borg.task_id=${task.taskId}`,
      '--label=borg.job_id=job-1',
      '--label=borg.solder=solder-1',
      `--volume=${workDir}:/workspace`,
      '--workdir=/workspace',
      '--network=bridge',
    ]);
    // The value travels in the CLI's environment, never in its argv (visible in ps).
    expect(args).toContain('--env=TOKEN');
    expect(args.join(' ')).not.toContain('hunter2');
    expect(env.TOKEN).toBe('hunter2');
    // A variable the CLI itself reads must not change the CLI, nor go in argv: without an env
    // file there is no way to pass it.
    expect(() => executor.runArguments({ ...task, env: { PATH: '/bin' } })).toThrow(/reads that variable itself/);
    // Everything after the image is the container's argv, a trailing '--privileged' included.
    expect(args.slice(-5)).toEqual([IMAGE, 'sh', '-c', 'echo "$TOKEN"', '--privileged']);
    expect(args.slice(0, -4).some((arg) => /privileged|pid=|ipc=|cap-add|device/.test(arg))).toBe(false);
  });

  test.each([
    ['an image that looks like a flag', { image: '--privileged' }, /not a valid image/],
    ['an image with a space', { image: 'busybox -v /:/host' }, /not a valid image/],
    ['no image', { image: null }, /no image/],
    ['a command that looks like a flag', { command: ['-v', '/:/host'] }, /may not start with '-'/],
    ['a string command', { command: 'echo hi' }, /array of strings/],
    ['an env name that is not one', { env: { 'A=B': 'x' } }, /not a valid variable name/],
    ['an env name that looks like a flag', { env: { '--privileged': 'x' } }, /not a valid variable name/],
    ['a task id unfit for a name', { taskId: '-x' }, /task id/],
  ])('refuses %s', (_, extra, message) => {
    expect(() => executor.runArguments(spec(['true'], extra as Partial<ExecutionSpec>))).toThrow(message);
  });

  test.each(['host', 'HOST', 'container:other', 'ns:/proc/1/ns/net', '--privileged'])(
    'refuses network mode %s',
    (network) => {
      expect(() => new ContainerExecutor({ cli: 'podman', solderId: 's', network })).toThrow(/not allowed/);
    },
  );
});

describe('container tasks under podman', () => {
  test('see the workspace, write to it, get their env and exit with their code', async (ctx) => {
    needsRuntime(ctx);
    await writeFile(join(workDir, 'input.txt'), 'from the host\n');
    const script = 'cat input.txt; echo written > /workspace/out.txt; echo "env=$GREETING|$BORG_TASK_ID"; exit 7';
    const task = spec(['sh', '-c', script]);
    task.env = { GREETING: 'hello $(id)', BORG_TASK_ID: task.taskId };
    const output = new Captured();
    const executor = new ContainerExecutor({ cli: 'podman', solderId });
    const running = await executor.start(task, output);
    const status = await running.exited;

    expect(status).toEqual({ exitCode: 7, signal: null });
    expect(output.stdoutText).toBe(`from the host\nenv=hello $(id)|${task.taskId}\n`);
    expect(await readFile(join(workDir, 'out.txt'), 'utf8')).toBe('written\n');
    expect(await containersNamed(containerName(task.taskId))).toBe('');
  });

  test('gives the container a secret, over an env of the same name, its value through the environment only', async (ctx) => {
    needsRuntime(ctx);
    const task = spec(['sh', '-c', 'echo "token=$API_TOKEN"'], {
      env: { API_TOKEN: 'from-env' },
      secrets: { API_TOKEN: 'hunter3-from-a-secret' },
    });
    const output = new Captured();
    const running = await new ContainerExecutor({ cli: 'podman', solderId }).start(task, output);
    expect(await running.exited).toEqual({ exitCode: 0, signal: null });
    expect(output.stdoutText).toBe('token=hunter3-from-a-secret\n');
  });

  test('stop() ends a sleeping container within the grace and leaves none behind', async (ctx) => {
    needsRuntime(ctx);
    const task = spec(['sh', '-c', 'echo "started $SECRET_VALUE"; exec sleep 1000'], {
      env: { SECRET_VALUE: 'hunter2-in-env' },
    });
    // A kill margin longer than the test timeout: only `podman stop -t 1` can end this in time.
    const executor = new ContainerExecutor({ cli: 'podman', solderId, killMarginMs: 600_000 });
    const output = new Captured();
    const running = await executor.start(task, output);
    await expect.poll(() => output.stdoutText, { timeout: 20_000 }).toContain('started hunter2-in-env');

    // While it runs, the value is in the container but in no process's argv.
    const commandLines = execFileSync('ps', ['-e', '-o', 'args='], { encoding: 'utf8' });
    expect(commandLines).toContain(`--name=${containerName(task.taskId)}`);
    expect(commandLines).not.toContain('hunter2');

    const status = await running.stop(1000);
    // sleep runs as PID 1 and ignores SIGTERM, so the runtime had to SIGKILL it: 128 + 9.
    expect(status).toEqual({ exitCode: 137, signal: null });
    expect(await containersNamed(containerName(task.taskId))).toBe('');
  });

  test('removeOrphanContainers removes leftovers labelled with this solder id, and only those', async (ctx) => {
    needsRuntime(ctx);
    const ours = `borg-leftover-${randomUUID()}`;
    const theirs = `borg-other-${randomUUID()}`;
    await podman('create', `--name=${ours}`, `--label=borg.solder=${solderId}`, IMAGE, 'sleep', '1000');
    await podman('create', `--name=${theirs}`, '--label=borg.solder=another-solder', IMAGE, 'sleep', '1000');
    try {
      const removed = await removeOrphanContainers('podman', solderId);
      expect(removed).toHaveLength(1);
      expect(await containersNamed(ours)).toBe('');
      expect(await containersNamed(theirs)).not.toBe('');
    } finally {
      // One at a time: podman stops at the first name that is already gone.
      for (const name of [ours, theirs]) await podman('rm', '-f', name).catch(() => undefined);
    }
  });
});
