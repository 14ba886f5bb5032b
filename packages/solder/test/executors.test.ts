import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import {
  BinaryExecutor,
  ContainerExecutor,
  createExecutor,
  type ExecutionSpec,
  type Executor,
  type OutputSink,
  ShellExecutor,
  taskBaseEnv,
  withoutSolderSecrets,
} from '../src/executors/index.ts';

/** Keeps every chunk exactly as the executor delivered it. */
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
  get stderrText(): string {
    return Buffer.concat(this.err).toString();
  }
}

let workDir: string;
beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'borg-executors-'));
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

let taskNumber = 0;
function spec(command: string | string[], extra: Partial<ExecutionSpec> = {}): ExecutionSpec {
  taskNumber += 1;
  const type = typeof command === 'string' ? 'shell' : 'binary';
  return { taskId: `task-${taskNumber}`, jobId: 'job-1', type, command, image: null, env: {}, workDir, ...extra };
}

async function run(executor: Executor, task: ExecutionSpec) {
  const output = new Captured();
  const running = await executor.start(task, output);
  const status = await running.exited;
  return { status, output };
}

/** Processes that still run (zombies excluded: PID 1 here does not reap orphans, and a zombie runs nothing). */
function liveProcesses(): { pid: number; pgid: number }[] {
  return execFileSync('ps', ['-e', '-o', 'pid=,pgid=,stat='], { encoding: 'utf8' })
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter(([pid, , stat]) => pid && stat && !stat.startsWith('Z'))
    .map(([pid, pgid]) => ({ pid: Number(pid), pgid: Number(pgid) }));
}

function isAlive(pid: number): boolean {
  return liveProcesses().some((p) => p.pid === pid);
}

const shell = new ShellExecutor({ baseEnv: taskBaseEnv(process.env) });
const binary = new BinaryExecutor();

describe('output', () => {
  test('stdout and stderr arrive as written, also without a trailing newline', async () => {
    const { status, output } = await run(shell, spec(`printf 'line 1\\nno newline'; printf 'to stderr' >&2`));
    expect(status).toEqual({ exitCode: 0, signal: null });
    expect(output.stdoutText).toBe('line 1\nno newline');
    expect(output.stderrText).toBe('to stderr');
  });

  test('a 1 MB single line arrives whole', async () => {
    const { output } = await run(shell, spec(`head -c 1048576 /dev/zero | tr '\\0' 'a'`));
    expect(output.stdoutText).toBe('a'.repeat(1024 * 1024));
  });

  test('bytes that are not UTF-8 arrive byte-exact, as Buffers', async () => {
    const { output } = await run(shell, spec(`printf '\\377\\376\\000\\200abc\\303'`));
    expect(output.out.every((chunk) => Buffer.isBuffer(chunk))).toBe(true);
    expect(Buffer.concat(output.out)).toEqual(Buffer.from([0xff, 0xfe, 0x00, 0x80, 0x61, 0x62, 0x63, 0xc3]));
  });
});

describe('environment', () => {
  const secrets = {
    BORG_TOKEN: 'secret-value-1',
    BORG_REGISTRATION_TOKEN: 'secret-value-2',
    BORG_ADMIN_TOKEN: 'secret-value-3',
    BORG_DB_PASSWORD: 'secret-value-4',
    BORG_S3_SECRET_KEY: 'secret-value-5',
  };
  const solderEnv = { ...process.env, ...secrets, BORG_URL: 'http://mothership:7000', SOLDER_LOCAL: 'kept' };
  const jobEnv = { JOB_VAR: 'value $(id) `id`', BORG_JOB_ID: 'job-1', BORG_TASK_ID: 'task-x' };

  test("taskBaseEnv keeps only what describes the machine, none of the solder's settings or secrets", () => {
    const base = taskBaseEnv({
      ...solderEnv,
      LANG: 'C.UTF-8',
      LC_ALL: 'C',
      TZ: 'UTC',
      HTTPS_PROXY: 'http://proxy:3128',
    });
    for (const name of Object.keys(secrets)) expect(base).not.toHaveProperty(name);
    expect(base).not.toHaveProperty('BORG_URL');
    expect(base).not.toHaveProperty('SOLDER_LOCAL');
    expect(base).toMatchObject({
      PATH: process.env.PATH,
      LANG: 'C.UTF-8',
      LC_ALL: 'C',
      TZ: 'UTC',
      HTTPS_PROXY: 'http://proxy:3128',
    });
    expect(withoutSolderSecrets({ borg_api_token: 'x', MY_TOKEN: 'y' })).toEqual({ MY_TOKEN: 'y' });
  });

  test.each([
    ['shell', () => new ShellExecutor({ baseEnv: taskBaseEnv(solderEnv) }), 'env'],
    ['binary', () => new BinaryExecutor({ baseEnv: taskBaseEnv(solderEnv) }), ['env']],
  ] as const)('a %s task gets the job env and BORG_* vars, not the secrets', async (_, make, command) => {
    const { output } = await run(make(), spec(typeof command === 'string' ? command : [...command], { env: jobEnv }));
    const lines = output.stdoutText.split('\n');
    expect(lines).toEqual(
      expect.arrayContaining(['JOB_VAR=value $(id) `id`', 'BORG_JOB_ID=job-1', 'BORG_TASK_ID=task-x']),
    );
    expect(output.stdoutText).not.toContain('BORG_URL=');
    expect(output.stdoutText).not.toContain('SOLDER_LOCAL=');
    expect(output.stdoutText).not.toContain('secret-value');
    expect(output.stdoutText).not.toContain('uid=');
  });

  test("by default, tasks do not see the secrets in the solder's own environment", async () => {
    const saved = process.env.BORG_TOKEN;
    process.env.BORG_TOKEN = 'secret-value-default';
    try {
      const { output } = await run(new ShellExecutor(), spec('env'));
      expect(output.stdoutText).toContain('PATH=');
      expect(output.stdoutText).not.toContain('secret-value-default');
    } finally {
      if (saved === undefined) delete process.env.BORG_TOKEN;
      else process.env.BORG_TOKEN = saved;
    }
  });
});

describe('binary argv', () => {
  const tricky = ['$(id)', '`id`', ';id', "'$(id)'", '"quoted"', 'two words', '-e', '--privileged', '-e FOO=bar'];
  const more = ['a\nb', '', '*', '~', '$HOME', '|id', '&&id', '>out'];

  test('reaches the program unchanged (node prints its argv as JSON)', async () => {
    await writeFile(join(workDir, 'argv.js'), 'process.stdout.write(JSON.stringify(process.argv.slice(2)));\n');
    const { status, output } = await run(binary, spec([process.execPath, 'argv.js', ...tricky, ...more]));
    expect(status.exitCode).toBe(0);
    expect(JSON.parse(output.stdoutText)).toEqual([...tricky, ...more]);
    expect(output.stdoutText).not.toContain('uid=');
  });

  test('reaches printf unchanged', async () => {
    const { output } = await run(binary, spec(['/usr/bin/printf', '[%s]\\n', ...tricky]));
    expect(output.stdoutText).toBe(tricky.map((arg) => `[${arg}]\n`).join(''));
    expect(output.stdoutText).not.toContain('uid=');
  });
});

describe('exit status', () => {
  test('a task that exits 3 reports exit code 3', async () => {
    const { status } = await run(shell, spec('exit 3'));
    expect(status).toEqual({ exitCode: 3, signal: null });
  });

  test.each([['/nonexistent/program'], ['borg-no-such-program']])(
    'a missing binary (%s) fails cleanly with 127 and a message',
    async (program) => {
      const { status, output } = await run(binary, spec([program, 'arg']));
      expect(status).toEqual({ exitCode: 127, signal: null });
      expect(output.stderrText).toContain(program);
      expect(output.stderrText).toContain('ENOENT');
    },
  );

  test('specs that cannot run are refused with a clear error', async () => {
    await expect(shell.start(spec(['echo', 'hi']), new Captured())).rejects.toThrow(/command must be a string/);
    await expect(binary.start(spec('echo hi'), new Captured())).rejects.toThrow(/array of strings/);
    await expect(binary.start(spec([]), new Captured())).rejects.toThrow(/argv\[0\]/);
    const missing = spec('true', { workDir: join(workDir, 'missing') });
    await expect(shell.start(missing, new Captured())).rejects.toThrow(/work directory .* does not exist/);
  });
});

describe('process groups', () => {
  test('stop() kills a task, its child and grandchild, all ignoring SIGTERM', async () => {
    const pidFile = join(workDir, 'tree.pids');
    const script = [
      'trap "" TERM',
      `sleep 1000 & echo $! > ${pidFile}`,
      `(sleep 1000 & echo $! >> ${pidFile})`,
      `echo $$ >> ${pidFile}`,
      'echo ready',
      'sleep 1000',
    ].join('; ');
    const output = new Captured();
    const task = await shell.start(spec(script), output);
    await expect.poll(() => output.stdoutText, { timeout: 10_000 }).toContain('ready');
    const pids = (await readFile(pidFile, 'utf8')).trim().split('\n').map(Number);
    const leader = pids[2]!;
    expect(pids.every(isAlive)).toBe(true);

    const status = await task.stop(500);
    expect(status).toEqual({ exitCode: null, signal: 'SIGKILL' });
    expect(pids.filter(isAlive)).toEqual([]);
    expect(liveProcesses().filter((p) => p.pgid === leader)).toEqual([]);
    // Stopping again is harmless and answers the same.
    await expect(task.stop(500)).resolves.toEqual(status);
  });

  test('a task that honours SIGTERM ends by it', async () => {
    const output = new Captured();
    const task = await shell.start(spec('echo ready; sleep 1000'), output);
    await expect.poll(() => output.stdoutText, { timeout: 10_000 }).toContain('ready');
    // The grace outlasts the test timeout, so only SIGTERM can end this in time.
    expect(await task.stop(600_000)).toEqual({ exitCode: null, signal: 'SIGTERM' });
  });

  test('background children die when the task exits by itself', async () => {
    const pidFile = join(workDir, 'background.pid');
    const { status } = await run(shell, spec(`sleep 1000 & echo $! > ${pidFile}; exit 0`));
    expect(status).toEqual({ exitCode: 0, signal: null });
    // Killed when the task ended; gone once whoever inherited it has reaped it.
    const pid = Number(await readFile(pidFile, 'utf8'));
    await expect.poll(() => isAlive(pid), { timeout: 5_000 }).toBe(false);
  });

  test('a process that left the group while holding the output does not keep the task alive', async () => {
    const pidFile = join(workDir, 'escaped.pid');
    // The task waits until the escaped process has written its pid, i.e. is in its own session.
    const escape = `setsid sh -c 'echo $$ > ${pidFile}; exec sleep 1000' &`;
    const { status, output } = await run(
      shell,
      spec(`${escape} while [ ! -s ${pidFile} ]; do sleep 0.05; done; echo done`),
    );
    const escaped = Number(await readFile(pidFile, 'utf8'));
    process.kill(escaped, 'SIGKILL');
    expect(status).toEqual({ exitCode: 0, signal: null });
    expect(output.stdoutText).toBe('done\n');
    expect(output.stderrText).toContain('outside the task');
  });
});

describe('createExecutor', () => {
  test('maps each job type to its executor', () => {
    expect(createExecutor('shell')).toBeInstanceOf(ShellExecutor);
    expect(createExecutor('binary')).toBeInstanceOf(BinaryExecutor);
    const container = createExecutor('container', { containerCli: 'podman', solderId: 'solder-1' });
    expect(container).toBeInstanceOf(ContainerExecutor);
    expect(() => createExecutor('container')).toThrow(/not enabled/);
  });
});
