import { execFileSync, spawn } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { Job, JobWithTasks } from '@borg/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { parsePrometheusText, sampleValue } from '../../../test/prometheus-text.ts';
import { useTestMothership } from '../../../test/test-mothership.ts';
import { eventually, type InProcessSolder, startSolder } from '../../../test/test-solder.ts';
import { adminEnv, borg, BORG_BIN, CLI_TEST_TIMEOUT_MS, spawnBorg, useTempDir, UUID } from './borg-cli.ts';

/** util-linux `script` runs a command on a pseudo-terminal; without it the terminal test is skipped. */
const hasScript = (() => {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

describe('borg submit and borg logs, against a real mothership and solder', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  const mothership = useTestMothership();
  const dir = useTempDir();
  let solder: InProcessSolder;
  const env = () => adminEnv(mothership(), dir());

  beforeAll(async () => {
    solder = await startSolder(mothership(), { maxConcurrentTasks: 4, name: 'cli-test-box' });
  });
  afterAll(async () => {
    await solder?.stop({ cancelRunning: true });
  });

  /** Answers to GET /api/v1/tasks/:id so far: here only `borg logs -f TASK` asks for a task. */
  async function taskReads(): Promise<number> {
    const text = await mothership().services.metrics.registry.metrics();
    const labels = { method: 'GET', route: '/api/v1/tasks/:id', status_code: '200' };
    return sampleValue(parsePrometheusText(text), 'borg_http_request_duration_seconds_count', labels) ?? 0;
  }

  async function finished(jobId: string): Promise<JobWithTasks> {
    return eventually(async () => {
      const job = await mothership().admin.getJob(jobId);
      return job.completed_at ? job : undefined;
    }, 20_000);
  }

  it('submit --follow uploads the files, streams stdout and stderr apart, and exits with the job’s exit code', async () => {
    await writeFile(join(dir(), 'input.txt'), 'the input, line 1\nline 2\n');
    await writeFile(join(dir(), 'run.sh'), 'cat in/input.txt\necho "to stderr" >&2\nexit 7\n');
    const [failing, passing] = await Promise.all([
      borg(['submit', '--follow', '--file', 'input.txt:in/input.txt', '--file', 'run.sh', '--', 'sh run.sh'], {
        cwd: dir(),
        env: env(),
      }),
      borg(['submit', '--follow', '--name', 'fine', '--', 'echo all good'], { env: env() }),
    ]);

    expect(failing.code, failing.stderr).toBe(7);
    expect(failing.stdout).toBe('the input, line 1\nline 2\n');
    expect(failing.stderr).toContain('to stderr\n');
    expect(failing.stderr).toMatch(/job \S+ failed in .*: element 0 exited with 7/);

    expect(passing.code, passing.stderr).toBe(0);
    expect(passing.stdout).toBe('all good\n');
    const jobId = /job (\S+) succeeded/.exec(passing.stderr)?.[1];
    expect((await mothership().admin.getJob(jobId!)).name).toBe('fine');
  });

  it('submit prints only the job id, so JOB=$(borg submit …) works; -o json prints the job', async () => {
    const [plain, json] = await Promise.all([
      borg(
        [
          'submit',
          '--label',
          'nobody=has-this',
          '--queue-unsatisfiable',
          '--priority',
          '5',
          '--env',
          'GREETING=hi',
          '--',
          'echo',
          '$GREETING',
        ],
        { env: env() },
      ),
      borg(['submit', '-o', 'json', '--type', 'binary', '--array', '2', '--timeout', '2m', '--', '/bin/echo', 'a b'], {
        env: env(),
      }),
    ]);
    expect(plain.code, plain.stderr).toBe(0);
    expect(plain.stdout.trim()).toMatch(UUID);
    const job = await mothership().admin.getJob(plain.stdout.trim());
    expect(job).toMatchObject({
      command: 'echo $GREETING',
      labels: { nobody: 'has-this' },
      priority: 5,
      env: { GREETING: 'hi' },
      status: 'queued',
      unsatisfiable: true,
    });
    await mothership().admin.cancelJob(job.id);

    expect(json.code, json.stderr).toBe(0);
    const created = JSON.parse(json.stdout) as Job;
    expect(created).toMatchObject({
      type: 'binary',
      command: ['/bin/echo', 'a b'],
      array_size: 2,
      timeout_seconds: 120,
    });
  });

  it('submit --user runs a container job as that uid:gid; --user is refused without a container or a number', async () => {
    const container = ['--type', 'container', '--image', 'alpine:3.20', '--label', 'nobody=has-this'];
    const [given, notContainer, notNumber] = await Promise.all([
      borg(['submit', ...container, '--queue-unsatisfiable', '--user', '1000:100', '--', 'id', '-u'], { env: env() }),
      borg(['submit', '--user', '1000', '--', 'id -u'], { env: env() }),
      borg(['submit', ...container, '--user', 'root', '--', 'id', '-u'], { env: env() }),
    ]);
    expect(given.code, given.stderr).toBe(0);
    const job = await mothership().admin.getJob(given.stdout.trim());
    expect(job).toMatchObject({ type: 'container', image: 'alpine:3.20', user: '1000:100', command: ['id', '-u'] });
    const show = await borg(['jobs', 'show', job.id], { env: env() });
    expect(show.stdout).toMatch(/^type: +container \(alpine:3\.20, as user 1000:100\)$/m);
    await mothership().admin.cancelJob(job.id);

    expect(notContainer.code).toBe(2);
    expect(notContainer.stderr).toContain('--user is for --type container');
    expect(notNumber.code).toBe(2);
    expect(notNumber.stderr).toContain('--user root: a container user is a numeric uid or uid:gid');
  });

  it('logs -f prints lines as the task writes them and ends when the task ends', async () => {
    // The task runs as another user when the tests run as root: it must be able to see the file.
    await chmod(dir(), 0o755);
    const release = join(dir(), 'release');
    const job = await mothership().admin.createJob({
      name: 'waits',
      type: 'shell',
      command: `echo first; while [ ! -e ${release} ]; do sleep 0.05; done; echo last`,
    });
    const task = (await eventually(async () => (await mothership().admin.getJob(job.id)).tasks[0]))!;
    const follow = spawnBorg(['logs', '-f', task.id], { env: env() });

    await eventually(() => follow.stdout().includes('first\n'), 20_000, 'the first line');
    // The task is still running, so following goes on: it asks for the task's state again.
    const reads = await taskReads();
    await expect.poll(taskReads, { timeout: 10_000 }).toBeGreaterThan(reads);
    expect(follow.child.exitCode).toBeNull();

    await writeFile(release, '');
    const result = await follow.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe('first\nlast\n'); // each line once, in order
    expect((await mothership().admin.getTask(task.id)).status).toBe('succeeded');
  });

  it('logs --tail, --grep and -o json read a finished job', async () => {
    const job = await mothership().admin.createJob({
      name: 'counts',
      type: 'shell',
      command: 'i=1; while [ $i -le 120 ]; do echo "line $i"; i=$((i+1)); done',
    });
    await finished(job.id);
    const [tail, grep, json] = await Promise.all([
      borg(['logs', job.id, '--tail', '3'], { env: env() }),
      borg(['logs', job.id, '--grep', '^line 1[01]$'], { env: env() }),
      borg(['logs', job.id, '--tail', '2', '-o', 'json'], { env: env() }),
    ]);
    expect(tail.stdout).toBe('line 118\nline 119\nline 120\n');
    expect(grep.stdout).toBe('line 10\nline 11\n');
    const records = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records).toMatchObject([
      { type: 'log', job_id: job.id, element: 0, attempt: 1, index: 118, stream: 'stdout', message: 'line 119' },
      { index: 119, message: 'line 120' },
    ]);
  });

  it('logs of a long task: every line once and in order, in the largest pages the API gives', async () => {
    const job = await mothership().admin.createJob({ name: 'long', type: 'shell', command: 'seq 1 25000' });
    await finished(job.id);
    const before = await logReads();
    const logs = await borg(['logs', job.id.slice(0, 8)], { env: env() });
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout).toBe(Array.from({ length: 25_000 }, (_, i) => `${i + 1}\n`).join(''));
    // A first page of 1,000 (the first lines print at once), then 10,000 at a time: 4 requests.
    expect((await logReads()) - before).toBe(4);
  });

  /** Answers to GET /api/v1/tasks/:id/logs so far. */
  async function logReads(): Promise<number> {
    const text = await mothership().services.metrics.registry.metrics();
    const labels = { method: 'GET', route: '/api/v1/tasks/:id/logs', status_code: '200' };
    return sampleValue(parsePrometheusText(text), 'borg_http_request_duration_seconds_count', labels) ?? 0;
  }

  it('jobs show names the runner each attempt ran on, as the dashboard does', async () => {
    const job = await mothership().admin.createJob({ name: 'where', type: 'shell', command: 'true' });
    const done = await finished(job.id);
    const show = await borg(['jobs', 'show', job.id], { env: env() });
    expect(show.code, show.stderr).toBe(0);
    const row = show.stdout.split('\n').find((line) => line.includes(done.tasks[0]!.id))!;
    expect(row).toContain('cli-test-box');
    expect(row).not.toContain(done.tasks[0]!.runner_id!);
  });

  it('an array job: --follow prefixes each element, artifacts download into one directory per element', async () => {
    const follow = await borg(
      [
        'submit',
        '--follow',
        '--array',
        '2',
        '--artifact',
        'out/*.txt',
        '--',
        'mkdir -p out && echo "element $BORG_TASK_INDEX" > out/result.txt && echo "hello from $BORG_TASK_INDEX"',
      ],
      { env: env() },
    );
    expect(follow.code, follow.stderr).toBe(0);
    expect(follow.stdout.split('\n').sort()).toEqual(['', '[0] hello from 0', '[1] hello from 1']);
    const jobId = /job (\S+) succeeded/.exec(follow.stderr)![1]!;

    const list = await borg(['artifacts', 'list', jobId, '-o', 'json'], { env: env() });
    expect(JSON.parse(list.stdout)).toHaveLength(2);
    const download = await borg(['artifacts', 'download', jobId, '--dir', join(dir(), 'results'), '-o', 'json'], {
      env: env(),
    });
    expect(download.code, download.stderr).toBe(0);
    expect(await readFile(join(dir(), 'results', '0', 'out', 'result.txt'), 'utf8')).toBe('element 0\n');
    expect(await readFile(join(dir(), 'results', '1', 'out', 'result.txt'), 'utf8')).toBe('element 1\n');
  });

  it.skipIf(!hasScript)(
    'on a terminal, log lines keep their colours but lose every other escape sequence (B12)',
    async () => {
      const job = await mothership().admin.createJob({
        name: 'hostile',
        type: 'shell',
        command: String.raw`printf '\033[31mred\033[0m \033]52;c;ZXZpbA==\007\033]0;title\007\033]8;;javascript:alert(1)\007click\033]8;;\007\033[2Aup\rover\n'`,
      });
      await finished(job.id);
      // `script` gives borg a pseudo-terminal, as a person's shell would.
      const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(BORG_BIN)} logs ${job.id}`;
      const onTerminal = await spawnCommand('script', ['-qec', command, '/dev/null'], env());
      expect(onTerminal).toContain('\u001b[31mred\u001b[0m');
      expect(onTerminal).toContain('clickupover');
      for (const banned of ['\u001b]', '\u0007', '\u001b[2A']) expect(onTerminal).not.toContain(banned);
      // The terminal turns \n into \r\n; a \r of the task's own would come without one.
      expect(onTerminal.replaceAll('\r\n', '\n')).not.toContain('\r');

      // Into a pipe, as written; in JSON, exactly as stored.
      const piped = await borg(['logs', job.id], { env: env() });
      expect(piped.stdout).toContain('\u001b]52;c;ZXZpbA==\u0007');
      const json = await borg(['logs', job.id, '-o', 'json'], { env: env() });
      expect(JSON.parse(json.stdout).message).toContain('\u001b]0;title\u0007');
    },
  );
});

async function spawnCommand(file: string, args: string[], env: Record<string, string>): Promise<string> {
  const { NO_COLOR: _ignored, ...inherited } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      env: { ...inherited, TERM: 'xterm', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk));
    child.on('error', reject);
    child.on('close', () => resolve(out));
  });
}
