import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createSecretMasker, type LogStream } from '@borg/protocol';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import { Agent } from '../src/agent.ts';
import { loadSolderConfig } from '../src/config.ts';
import { ContainerExecutor, type ExecutionSpec, type Executor } from '../src/executors/index.ts';
import { LogStreamer } from '../src/log-streamer.ts';
import { FakeMothership } from './fake-mothership.ts';

/** A value every encoding changes: a slash, a plus, quotes, a backslash, spaces, a non-ASCII letter. */
const VALUE = 's3cr3t/V@lue+"quoted"\\ & spaces ü';

/** The value as a task might print it, each form computed here independently of the masker. */
const PRINTED_FORMS = [
  VALUE,
  Buffer.from(VALUE).toString('base64'),
  Buffer.from(VALUE).toString('base64url'),
  encodeURIComponent(VALUE),
  new URLSearchParams({ v: VALUE }).toString().slice(2),
  JSON.stringify(VALUE).slice(1, -1),
  Buffer.from(VALUE).toString('hex'),
  Buffer.from(VALUE).toString('hex').toUpperCase(),
];

/** Prints the value plainly, split over two lines, and in every encoding the masker knows. */
const PRINT_EVERY_FORM = `
const v = process.env.API_TOKEN;
const out = (line) => process.stdout.write(line + '\\n');
out('plain ' + v);
out('length ' + v.length);
out('base64 ' + Buffer.from(v).toString('base64'));
out('base64url ' + Buffer.from(v).toString('base64url'));
out('basic ' + Buffer.from('deploy:' + v).toString('base64'));
out('url ' + encodeURIComponent(v));
out('form ' + new URLSearchParams({ v }).toString());
out('json ' + JSON.stringify({ token: v }));
out('hex ' + Buffer.from(v).toString('hex'));
out('HEX ' + Buffer.from(v).toString('hex').toUpperCase());
process.stdout.write('split ' + v.slice(0, 6) + '\\n' + v.slice(6) + ' end\\n');
process.stderr.write('stderr ' + v + '\\n');
out('done');
`;

function expectNoSecretIn(texts: string[]): void {
  for (const text of texts) {
    for (const form of PRINTED_FORMS)
      expect(text, `a form of the value in ${JSON.stringify(text)}`).not.toContain(form);
  }
}

/** Every file under `dir`, read as text. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((name) => join(dir, name))
    .filter((path) => statSync(path).isFile())
    .map((path) => readFileSync(path, 'utf8'));
}

/** A solder of its own against `fake`, its state in `stateDir`, what it logs pushed to `logged`. */
async function startAgent(
  fake: FakeMothership,
  stateDir: string,
  logged: string[],
  executor?: Executor,
): Promise<Agent> {
  const config = await loadSolderConfig(
    {
      mothership: fake.url,
      registrationToken: fake.registrationToken,
      stateDir,
      maxConcurrentTasks: 2,
      longPollSeconds: 1,
      cancelGracePeriod: 1,
    },
    {},
  );
  const agent = new Agent(config, {
    log: (message, fields) => logged.push(`${message} ${JSON.stringify(fields ?? {})}`),
    requestTimeoutMs: 5_000,
    ...(executor ? { executorFor: () => executor } : {}),
  });
  await agent.start();
  return agent;
}

/** How the task ended (its one report after `running`), once it has. */
async function ended(fake: FakeMothership, taskId: string): Promise<string> {
  await expect.poll(() => fake.statusesOf(taskId).filter((s) => s !== 'running'), { timeout: 20_000 }).toHaveLength(1);
  return fake.statusesOf(taskId).at(-1)!;
}

function linesOf(fake: FakeMothership, taskId: string, stream: LogStream): string[] {
  return fake
    .linesOf(taskId)
    .filter((line) => line.stream === stream)
    .map((line) => line.message);
}

describe('a solder running tasks that have secrets', () => {
  let fake: FakeMothership;
  let dir: string;
  let agent: Agent;
  const logged: string[] = [];
  const lines = (taskId: string, stream: LogStream) => linesOf(fake, taskId, stream);

  beforeAll(async () => {
    fake = await FakeMothership.start({ heartbeatIntervalSeconds: 1 });
    dir = await mkdtemp(join(tmpdir(), 'borg-task-secrets-'));
    await chmod(dir, 0o755); // a root solder's task user must pass through to its workspace
    agent = await startAgent(fake, join(dir, 'state'), logged);
  });
  afterAll(async () => {
    await agent?.stop({ cancelRunning: true });
    await fake?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('gives the task its secret as an environment variable and masks every form it prints, on both streams', async () => {
    const task = fake.submit({
      type: 'binary',
      command: [process.execPath, '-e', PRINT_EVERY_FORM],
      secrets: { API_TOKEN: VALUE },
    });
    expect(await ended(fake, task.id)).toBe('succeeded');

    const basic = Buffer.from(`deploy:${VALUE}`).toString('base64');
    expect(lines(task.id, 'stdout')).toEqual([
      'plain ***',
      `length ${VALUE.length}`,
      'base64 ***',
      'base64url ***',
      // "deploy:" is 7 bytes: its encoding, then one character with 2 of its bits and 4 of the value's.
      `basic ${basic.slice(0, Math.ceil((7 * 8) / 6))}***`,
      'url ***',
      'form v=***',
      'json {"token":"***"}',
      'hex ***',
      'HEX ***',
      'split ***',
      '*** end',
      'done',
    ]);
    expect(lines(task.id, 'stderr')).toEqual(['stderr ***']);
    const all = fake.linesOf(task.id).map((line) => line.message);
    expectNoSecretIn(all);
    for (const half of [VALUE.slice(0, 6), VALUE.slice(6)]) expect(all.join('\n')).not.toContain(half);
  });

  it("masks a shell task's output through real tools: echo, base64 wrapped at 20 columns, xxd", async () => {
    const task = fake.submit({
      command: [
        'echo "token: $API_TOKEN"',
        `printf '%s' "$API_TOKEN" | base64 -w 20`,
        `printf '%s' "$API_TOKEN" | xxd -p -c 16`,
        'echo finished',
      ].join('; '),
      secrets: { API_TOKEN: VALUE },
    });
    expect(await ended(fake, task.id)).toBe('succeeded');
    const stdout = lines(task.id, 'stdout');
    const encodedLines = Math.ceil(Buffer.from(VALUE).toString('base64').length / 20);
    const hexLines = Math.ceil(Buffer.byteLength(VALUE) / 16);
    expect(stdout).toEqual(['token: ***', ...Array<string>(encodedLines + hexLines).fill('***'), 'finished']);
  });

  it('does not start a task whose secrets the mothership could not give, and says which', async () => {
    const marker = join(dir, 'started');
    const task = fake.submit({
      command: `touch ${marker}`,
      secrets: { API_TOKEN: VALUE },
      missing_secrets: ['deploy-token', 'registry-password'],
    });
    expect(await ended(fake, task.id)).toBe('failed');
    expect(fake.statusesOf(task.id)).toEqual(['failed']);
    const [report] = fake.reportsOf(task.id);
    expect(report!.error).toBe(
      'borg: the task was not started: the mothership could not give it these secrets of the job: deploy-token, registry-password',
    );
    expect(fake.linesOf(task.id)).toEqual([{ stream: 'system', message: report!.error }]);
    expect(existsSync(marker)).toBe(false);
  });

  it('uploads no artifact whose path holds a secret, and names it masked', async () => {
    const task = fake.submit({
      command: 'touch "report-$KEY.txt" plain.txt',
      secrets: { KEY: 'k3y-in-a-file-name' },
      artifacts: ['*.txt'],
    });
    expect(await ended(fake, task.id)).toBe('succeeded');
    expect(fake.artifactsOf(task.id).map((a) => a.path)).toEqual(['plain.txt']);
    expect(lines(task.id, 'system')).toEqual([
      "borg: artifact report-***.txt skipped: its path holds the value of one of the job's secrets",
      'borg: stored 1 artifact(s)',
    ]);
  });

  it('keeps the values out of its own log and its state directory', () => {
    expect(logged.length).toBeGreaterThan(0);
    expectNoSecretIn(logged);
    expectNoSecretIn(filesUnder(join(dir, 'state')));
  });
});

describe('a task that fails with a secret in its error', () => {
  let fake: FakeMothership;
  let dir: string;
  let agent: Agent;
  const logged: string[] = [];
  beforeAll(async () => {
    fake = await FakeMothership.start({ heartbeatIntervalSeconds: 1 });
    dir = await mkdtemp(join(tmpdir(), 'borg-task-secrets-'));
    await chmod(dir, 0o755); // a root solder's task user must pass through to its workspace
    const executor: Executor = {
      start: (spec) => Promise.reject(new Error(`could not start with ${spec.secrets?.API_TOKEN}`)),
    };
    agent = await startAgent(fake, join(dir, 'state'), logged, executor);
  });
  afterAll(async () => {
    await agent?.stop({ cancelRunning: true });
    await fake?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('is reported, shown and logged with the value masked', async () => {
    const task = fake.submit({ command: 'true', secrets: { API_TOKEN: VALUE } });
    expect(await ended(fake, task.id)).toBe('failed');
    expect(fake.reportsOf(task.id).at(-1)!.error).toBe('borg: could not start with ***');
    expect(linesOf(fake, task.id, 'system')).toEqual(['borg: could not start with ***']);
    expectNoSecretIn(logged);
  });
});

describe('masked log lines, in memory and on disk', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'borg-secret-spool-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('spills only masked lines to the spool while the mothership is away, and sends them once it is back', async () => {
    let down = true;
    const sent: string[] = [];
    const spillPath = join(dir, 'task.jsonl');
    let spilled = '';
    const streamer = new LogStreamer({
      send: async (batch) => {
        if (existsSync(spillPath)) spilled += readFileSync(spillPath, 'utf8');
        if (down) throw new TypeError('fetch failed');
        sent.push(...batch.lines.map((line) => line.message));
        return { seq: batch.seq, stored: true, next_seq: batch.seq + 1, line_count: 0 };
      },
      spillPath,
      memoryLimitBytes: 1,
      maxBatchBytes: 1,
      masker: createSecretMasker([VALUE]),
    });
    for (let i = 0; i < 20; i++) streamer.write('stdout', Buffer.from(`line ${i}: ${VALUE}\n`));
    streamer.write('stderr', Buffer.from(`split ${VALUE.slice(0, 10)}\n${VALUE.slice(10)}`));
    streamer.system(`borg: about ${encodeURIComponent(VALUE)}`);
    await expect.poll(() => existsSync(spillPath)).toBe(true);
    spilled += readFileSync(spillPath, 'utf8');
    down = false;
    await streamer.finish();
    streamer.close();

    expect(spilled).toContain('line 19: ***');
    expectNoSecretIn([spilled]);
    expect(sent).toEqual([
      ...Array.from({ length: 20 }, (_, i) => `line ${i}: ***`),
      'borg: about ***',
      'split ***',
      '***',
    ]);
  });
});

describe('secrets of container tasks', () => {
  const executor = new ContainerExecutor({ cli: 'docker', solderId: 'solder-1', cliEnv: { PATH: '/usr/bin' } });
  const spec = (secrets: Record<string, string>, env: Record<string, string> = {}): ExecutionSpec => ({
    ...{ taskId: 'task-1', jobId: 'job-1', type: 'container', command: ['true'], image: 'alpine' },
    ...{ env, secrets, workDir: '/tmp/borg-task-1' },
  });

  it('passes a secret by name in argv and by value only in the environment of the CLI, over an env of that name', () => {
    const { args, env } = executor.runArguments(spec({ API_TOKEN: VALUE }, { API_TOKEN: 'plain', OTHER: 'x' }));
    expect(args).toContain('--env=API_TOKEN');
    expect(args.filter((arg) => arg.startsWith('--env=API_TOKEN'))).toHaveLength(1);
    expectNoSecretIn(args);
    expect(env.API_TOKEN).toBe(VALUE);
  });

  it('refuses a secret named like a variable the CLI reads itself, naming it and not its value', () => {
    const run = () => executor.runArguments(spec({ DOCKER_PASSWORD: VALUE }));
    expect(run).toThrow(/secret DOCKER_PASSWORD cannot be passed to a container: docker reads that variable itself/);
    expect(() => run()).toThrowError(expect.objectContaining({ message: expect.not.stringContaining(VALUE) }));
  });
});
