import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { access, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { eventually, finishedJob, type InProcessSolder, startSolder } from '../../../test/test-solder.ts';
import { workDirOf } from '../src/config.ts';
import type { ExecutionSpec } from '../src/executors/executor.ts';
import { ContainerExecutor, removeOrphanContainers } from '../src/executors/index.ts';
import { ImagePolicy, normaliseImage } from '../src/image-policy.ts';
import { TaskUsers } from '../src/task-user.ts';

const execFileAsync = promisify(execFile);
const isRoot = process.getuid?.() === 0;
const needsRoot = (ctx: TestContext) => {
  if (!isRoot) ctx.skip('the solder must run as root to run tasks as another user');
};

const borg = useTestMothership();

const logOf = async (taskId: string) =>
  (await borg().admin.getTaskLogs(taskId)).items.map((line) => line.message).join('\n');

describe('a root solder runs tasks as other users', () => {
  let solder: InProcessSolder;
  const canary = `canary-${randomBytes(8).toString('hex')}`;
  // A uid block nothing on this machine uses (checked by the solder at start).
  const taskUids = '2100000000-2100000003';

  beforeAll(async () => {
    if (!isRoot) return;
    process.env.BORG_SANDBOX_TEST_TOKEN = canary;
    solder = await startSolder(borg(), { labels: 'pool=sandbox', maxConcurrentTasks: 2, taskUids });
  });
  afterAll(async () => {
    delete process.env.BORG_SANDBOX_TEST_TOKEN;
    await solder?.stop({ cancelRunning: true });
  });

  it("cannot read the solder's identity, its environment, or a task running beside it", async (ctx) => {
    needsRoot(ctx);
    const workDir = workDirOf(solder.config);
    // B writes a file into its workspace and runs until the test says it may end.
    const b = await borg().admin.createJob({
      name: 'b holds a file',
      command: 'echo "secret-of-b" > b.txt; id -u > uid.txt; while [ ! -e release ]; do sleep 0.05; done',
      labels: { pool: 'sandbox' },
    });
    const bTask = (await borg().admin.getJob(b.id)).tasks[0]!;
    const bDir = join(workDir, 'tasks', bTask.id);
    await eventually(
      () =>
        access(join(bDir, 'uid.txt')).then(
          () => true,
          () => false,
        ),
      20_000,
      'task B to start',
    );

    const a = await borg().admin.createJob({
      name: 'a tries to read',
      command: [
        'id -u',
        'cat "$IDENTITY"; echo "identity exit $?"',
        'cat /proc/$PPID/environ; echo "parent environ exit $?"',
        'cat /proc/$SOLDER_PID/environ; echo "solder environ exit $?"',
        'ls "$STATE_DIR"; echo "state dir exit $?"',
        'cat "$B_DIR/b.txt"; echo "other workspace exit $?"',
        'ls "$WORK_DIR/tasks"; echo "list workspaces exit $?"',
        // Every process's cwd: a process of the same uid would let this reach B's workspace.
        'for p in /proc/[0-9]*; do cat "$p/cwd/b.txt" 2>/dev/null; done; echo "proc scan done"',
        'env',
      ].join('\n'),
      env: {
        IDENTITY: join(solder.config.stateDir, 'identity.json'),
        STATE_DIR: solder.config.stateDir,
        SOLDER_PID: String(process.pid),
        B_DIR: bDir,
        WORK_DIR: workDir,
      },
      labels: { pool: 'sandbox' },
    });
    const doneA = await finishedJob(borg(), a.id);
    await writeFile(join(bDir, 'release'), '');
    const doneB = await finishedJob(borg(), b.id);
    expect(doneB.status).toBe('succeeded');

    const log = await logOf(doneA.tasks[0]!.id);
    const lines = log.split('\n');
    const uidA = Number(lines.find((line) => /^\d+$/.test(line)));
    expect(uidA).toBeGreaterThanOrEqual(2_100_000_000);
    for (const what of [
      'identity',
      'parent environ',
      'solder environ',
      'state dir',
      'other workspace',
      'list workspaces',
    ]) {
      const exit = lines.find((line) => line.startsWith(`${what} exit `));
      expect(exit, `${what} was tried`).toBeDefined();
      expect(exit, `${what} must fail`).not.toBe(`${what} exit 0`);
    }
    expect(log).toContain('Permission denied');
    expect(log).toContain('proc scan done');
    expect(log).not.toContain('secret-of-b');
    expect(log).not.toContain('borg_run_');
    expect(log).not.toContain('device_id');
    expect(log).not.toContain(borg().registrationToken);
    // The task's environment is its own: nothing of the solder's settings or secrets.
    expect(log).not.toContain(canary);
    expect(log).not.toContain('BORG_SANDBOX_TEST_TOKEN');
    expect(log).not.toMatch(/^BORG_(STATE_DIR|MOTHERSHIP_ADDR|REGISTRATION_TOKEN)=/m);
    expect(lines).toContain(`HOME=${join(workDir, 'tasks', doneA.tasks[0]!.id)}`);
  });

  it('keeps the solder state root-only and gives the workspace to the task user', async (ctx) => {
    needsRoot(ctx);
    const { stateDir } = solder.config;
    expect((await stat(join(stateDir, 'identity.json'))).mode & 0o777).toBe(0o600);
    for (const dir of ['spool', 'run']) {
      const info = await stat(join(stateDir, dir));
      expect([info.uid, info.mode & 0o777], dir).toEqual([0, 0o700]);
    }
    // The work directory is inside the state directory here: both may be passed, not listed.
    expect((await stat(stateDir)).mode & 0o777).toBe(0o711);
    expect((await stat(join(workDirOf(solder.config), 'tasks'))).mode & 0o777).toBe(0o711);

    const job = await borg().admin.createJob({
      name: 'writes its workspace',
      command: 'mkdir -p out && id -u > out/uid.txt && stat -c "%u %a" . && echo written',
      labels: { pool: 'sandbox' },
      artifacts: ['out/*'],
    });
    const done = await finishedJob(borg(), job.id);
    expect(done.status).toBe('succeeded');
    const log = await logOf(done.tasks[0]!.id);
    const [owner, mode] = log
      .split('\n')
      .find((line) => /^\d+ \d+$/.test(line))!
      .split(' ');
    expect(Number(owner)).toBeGreaterThanOrEqual(2_100_000_000);
    expect(mode).toBe('700');
    // The root solder still collects what the task wrote.
    const artifacts = await borg().admin.listArtifacts(done.tasks[0]!.id);
    expect(artifacts.items.map((item) => item.path)).toEqual(['out/uid.txt']);
  });
});

describe('TaskUsers', () => {
  it('runs tasks as nobody when root and no borg-task user exists, as the solder itself otherwise', async () => {
    const users = await TaskUsers.resolve({ maxConcurrentTasks: 2 });
    if (isRoot) {
      const hasBorgTask = await execFileAsync('getent', ['passwd', 'borg-task']).then(
        () => true,
        () => false,
      );
      expect(users.base.name).toBe(hasBorgTask ? 'borg-task' : 'nobody');
      expect(users.base.switches).toBe(true);
    } else {
      expect(users.base.switches).toBe(false);
      await expect(TaskUsers.resolve({ maxConcurrentTasks: 1, runAs: 'root' })).rejects.toThrow(
        /only a solder running as root/,
      );
    }
  });

  it('refuses a uid block smaller than the task slots or used by an account', async (ctx) => {
    needsRoot(ctx);
    await expect(
      TaskUsers.resolve({ maxConcurrentTasks: 4, taskUids: { first: 2_100_000_000, last: 2_100_000_001 } }),
    ).rejects.toThrow(/2 uid\(s\) for 4 concurrent tasks/);
    await expect(
      TaskUsers.resolve({ maxConcurrentTasks: 1, taskUids: { first: 65_534, last: 65_534 } }),
    ).rejects.toThrow(/already belong/);
    await expect(TaskUsers.resolve({ maxConcurrentTasks: 1, runAs: 'no-such-user-here' })).rejects.toThrow(
      /no such user/,
    );
  });
});

describe('--job-types and --allowed-images', () => {
  let containerOnly: InProcessSolder | undefined;
  let shellToo: InProcessSolder | undefined;
  afterAll(async () => {
    await containerOnly?.stop({ cancelRunning: true });
    await shellToo?.stop({ cancelRunning: true });
  });

  it('a container-only solder leaves a shell job queued, and a second solder takes it', async () => {
    const job = await borg().admin.createJob({ name: 'shell job', command: 'echo ran', labels: { pool: 'types' } });
    const parkedBefore = borg().services.dispatcher.parked;
    containerOnly = await startSolder(borg(), {
      labels: 'pool=types',
      jobTypes: 'container',
      allowedImages: 'docker.io/library/*',
    });
    // Its first claim has run (the job was already queued) and it now waits, parked, for work.
    await eventually(() => borg().services.dispatcher.parked > parkedBefore, 20_000, 'the container solder to park');
    const waiting = await borg().admin.getJob(job.id);
    expect(waiting.status).toBe('queued');
    expect(waiting.tasks[0]!.status).toBe('pending');

    shellToo = await startSolder(borg(), { labels: 'pool=types', jobTypes: 'shell,binary' });
    const done = await finishedJob(borg(), job.id);
    expect(done.status).toBe('succeeded');
    expect(done.tasks[0]!.runner_id).toBe(shellToo.agent.id);
  });

  it('a parked container-only solder is not handed a shell job when woken; a container job reaches it', async () => {
    const job = await borg().admin.createJob({ name: 'shell again', command: 'echo again', labels: { pool: 'types' } });
    const done = await finishedJob(borg(), job.id);
    expect(done.tasks[0]!.runner_id).toBe(shellToo!.agent.id);

    // An image outside --allowed-images fails at once, saying why.
    const container = await borg().admin.createJob({
      name: 'not allowed',
      type: 'container',
      image: 'localhost/borg-test:latest',
      command: ['echo', 'ran'],
      labels: { pool: 'types' },
    });
    const refused = await finishedJob(borg(), container.id);
    expect(refused.status).toBe('failed');
    expect(refused.tasks[0]!.runner_id).toBe(containerOnly!.agent.id);
    expect(refused.tasks[0]!.error).toMatch(/image localhost\/borg-test:latest .* is not allowed on this solder/);
    expect(await logOf(refused.tasks[0]!.id)).toMatch(/not allowed on this solder; it allows docker\.io\/library\/\*/);
  });
});

describe('image policy', () => {
  it('completes short names as the docker CLI does', () => {
    expect(normaliseImage('alpine')).toBe('docker.io/library/alpine');
    expect(normaliseImage('alpine:3.20')).toBe('docker.io/library/alpine:3.20');
    expect(normaliseImage('acme/tool')).toBe('docker.io/acme/tool');
    expect(normaliseImage('ghcr.io/acme/tool:1')).toBe('ghcr.io/acme/tool:1');
    expect(normaliseImage('localhost/borg-test')).toBe('localhost/borg-test');
    expect(normaliseImage('registry:5000/x')).toBe('registry:5000/x');
  });

  it('matches globs by path component, tags only when the pattern names one', () => {
    const policy = new ImagePolicy(['docker.io/library/*', 'ghcr.io/acme/**', 'quay.io/x/tool:1.*']);
    for (const ok of [
      'alpine',
      'alpine:3.20',
      'docker.io/library/busybox@sha256:abc',
      'ghcr.io/acme/a/b:2',
      'quay.io/x/tool:1.4',
    ]) {
      expect(policy.refusal(ok), ok).toBeNull();
    }
    for (const no of [
      'acme/tool',
      'ghcr.io/other/a',
      'quay.io/x/tool:2.0',
      'quay.io/x/tool',
      'docker.io/library/a/b',
      'evil.io/library/alpine',
    ]) {
      expect(policy.refusal(no), no).toMatch(/is not allowed on this solder/);
    }
    expect(new ImagePolicy(['alpine']).refusal('alpine:edge')).toBeNull();
  });
});

describe('container tasks get safe defaults', () => {
  const IMAGE = 'localhost/borg-test:latest';
  let envDir: string;
  let workDir: string;
  beforeAll(async () => {
    envDir = await mkdtemp(join(tmpdir(), 'borg-envfiles-'));
    workDir = await mkdtemp(join(tmpdir(), 'borg-container-ws-'));
  });
  afterAll(async () => {
    await rm(envDir, { recursive: true, force: true });
    await rm(workDir, { recursive: true, force: true });
  });
  const spec = (extra: Partial<ExecutionSpec> = {}): ExecutionSpec => ({
    taskId: `t-${randomUUID()}`,
    jobId: 'job-1',
    type: 'container',
    command: ['sh', '-c', 'true'],
    image: IMAGE,
    env: {},
    workDir,
    ...extra,
  });

  it('drops every capability, forbids new privileges, limits processes, and keeps values out of argv', () => {
    const executor = new ContainerExecutor({ cli: 'podman', solderId: 's-1', pidsLimit: 128, envFileDir: envDir });
    const task = spec({
      env: { GREETING: 'hello world', PATH: '/opt/bin:/bin', MULTI: 'line one\nline two', QUOTED: '"q"' },
      secrets: { API_TOKEN: 'hunter2-secret' },
      containerUser: '1234:5678',
    });
    const { args, env, envFile } = executor.runArguments(task);
    expect(args).toEqual(
      expect.arrayContaining([
        '--cap-drop=ALL',
        '--security-opt=no-new-privileges',
        '--pids-limit=128',
        '--user=1234:5678',
      ]),
    );
    expect(args).toContain(`--env-file=${join(envDir, `${task.taskId}.env`)}`);
    expect(envFile!.content).toBe('GREETING=hello world\nPATH=/opt/bin:/bin\nAPI_TOKEN=hunter2-secret\n');
    // Values an env file could misread go by name, the value in the CLI's environment only.
    expect(args).toEqual(expect.arrayContaining(['--env=MULTI', '--env=QUOTED']));
    expect(env).toMatchObject({ MULTI: 'line one\nline two', QUOTED: '"q"' });
    expect(env.PATH).not.toBe('/opt/bin:/bin');
    const argv = args.join(' ');
    for (const value of ['hello world', 'hunter2-secret', 'line one', '/opt/bin']) expect(argv).not.toContain(value);
    expect(() => executor.runArguments(spec({ containerUser: 'root' }))).toThrow(/numeric uid or uid:gid/);
    // A variable the CLI reads itself whose value cannot go in the file is refused.
    expect(() => executor.runArguments(spec({ env: { LD_PRELOAD: 'a\nb' } }))).toThrow(/reads that variable itself/);
  });

  it('runs so in podman: no capabilities, no new privileges, the user asked for, env from a file removed afterwards', async (ctx) => {
    const ready = await execFileAsync('podman', ['image', 'exists', IMAGE], {
      env: { ...process.env, CONTAINERS_CONF: process.env.CONTAINERS_CONF ?? '/etc/containers/borg.conf' },
    }).then(
      () => true,
      () => false,
    );
    if (!ready) return ctx.skip(`podman with ${IMAGE} is not available (see .ci/run)`);
    process.env.CONTAINERS_CONF ??= '/etc/containers/borg.conf';
    const executor = new ContainerExecutor({
      cli: 'podman',
      solderId: 'sandbox-test',
      pidsLimit: 64,
      envFileDir: envDir,
    });
    let out = '';
    const sink = { stdout: (c: Buffer) => (out += c.toString()), stderr: (c: Buffer) => (out += c.toString()) };
    try {
      const running = await executor.start(
        spec({
          command: [
            'sh',
            '-c',
            'id -u; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status; echo "g=$GREETING s=$API_TOKEN m=$MULTI"',
          ],
          env: { GREETING: 'it\'s "quoted" ok', MULTI: 'a\nb' },
          secrets: { API_TOKEN: 'tok-123 456' },
          containerUser: '4242',
        }),
        sink,
      );
      const exit = await running.exited;
      expect(exit.exitCode, out).toBe(0);
    } finally {
      await removeOrphanContainers('podman', 'sandbox-test').catch(() => undefined);
    }
    const lines = out.split('\n');
    expect(lines[0]).toBe('4242');
    expect(out).toMatch(/CapEff:\s+0000000000000000/);
    expect(out).toMatch(/NoNewPrivs:\s+1/);
    expect(out).toContain(`g=it's "quoted" ok s=tok-123 456 m=a\nb`);
    await eventually(async () => (await readdir(envDir)).length === 0, 10_000, 'the env file to be removed');
  });
});

describe('--registration-token-file', () => {
  it('registers with the token from the file, then drops BORG_REGISTRATION_TOKEN from the environment', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'borg-regfile-'));
    const file = join(dir, 'token');
    await writeFile(file, `${borg().registrationToken}\n`, { mode: 0o600 });
    process.env.BORG_REGISTRATION_TOKEN = borg().registrationToken;
    let solder: InProcessSolder | undefined;
    try {
      solder = await startSolder(borg(), { registrationToken: undefined, registrationTokenFile: file });
      expect(solder.agent.id).not.toBe('');
      expect(process.env.BORG_REGISTRATION_TOKEN).toBeUndefined();
      expect(solder.config.registrationToken).toBeUndefined();
      expect(JSON.stringify(solder.config)).not.toContain(borg().registrationToken);
    } finally {
      delete process.env.BORG_REGISTRATION_TOKEN;
      await solder?.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('is refused together with --registration-token, and an unreadable file is a fatal error naming it', async () => {
    await expect(startSolder(borg(), { registrationTokenFile: '/nonexistent/token' })).rejects.toThrow(
      /give the registration token one way/,
    );
    await expect(
      startSolder(borg(), { registrationToken: undefined, registrationTokenFile: '/nonexistent/token' }),
    ).rejects.toThrow(/cannot read the registration token file \/nonexistent\/token/);
  });
});
