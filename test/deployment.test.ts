import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

import { ENV_VARS } from '../packages/mothership/src/config.ts';
import { SOLDER_ENV_VARS } from '../packages/solder/src/config.ts';
import { createTestDatabase, ENGINE, type TestDatabase } from './test-database.ts';
import { useTestMothership } from './test-mothership.ts';
import { eventually, spawnSolder } from './test-solder.ts';

/**
 * The deployment files at the repository root and in deploy/. These machines have no Docker
 * engine (and no hadolint: Debian does not package it, npm does not carry it), so the Dockerfile
 * and docker-compose.yml are checked by reading them — against the seed's layout and against the
 * settings the code really has — and by running their commands directly: the image's CMD with
 * the compose file's environment, its HEALTHCHECK, and the systemd unit's stop sequence.
 */

const root = new URL('../', import.meta.url).pathname;
const read = (path: string) => readFile(join(root, path), 'utf8');
const run = promisify(execFile);

// --- readers -----------------------------------------------------------------------------------

interface Instruction {
  keyword: string;
  args: string;
  stage: number;
}

/** Dockerfile instructions, with continuation lines joined and comments dropped. */
function parseDockerfile(text: string): Instruction[] {
  const logical: string[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line) && current === '') continue;
    if (/^\s*#/.test(line)) continue; // a comment inside a continued instruction
    const continued = /\\\s*$/.test(line);
    current += (current ? ' ' : '') + line.replace(/\\\s*$/, '').trim();
    if (!continued) {
      if (current.trim()) logical.push(current.trim());
      current = '';
    }
  }
  let stage = -1;
  return logical.map((line) => {
    const [, keyword, args] = /^(\w+)\s+(.*)$/.exec(line)!;
    if (keyword!.toUpperCase() === 'FROM') stage++;
    return { keyword: keyword!.toUpperCase(), args: args!, stage };
  });
}

/**
 * `${NAME:-default}`, `${NAME:?message}` and `${NAME}` as compose resolves them from the
 * environment: `:?` refuses to start when the variable is unset or empty.
 */
function interpolate(value: string, env: Record<string, string | undefined>): string {
  return value.replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_, name: string, kind?: string, text?: string) => {
    if (env[name]) return env[name];
    if (kind === '?') throw new Error(`${name}: ${text}`);
    return text ?? '';
  });
}

/** A systemd unit: section → key → values (a key may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | undefined;
  for (const line of text.split('\n')) {
    if (/^\s*([#;].*)?$/.test(line)) continue;
    const header = /^\[(\w+)\]$/.exec(line.trim());
    if (header) {
      section = new Map();
      sections.set(header[1]!, section);
      continue;
    }
    const [, key, value] = /^(\w+)=(.*)$/.exec(line) ?? [];
    if (!key || !section) throw new Error(`not a unit line: ${line}`);
    section.set(key, [...(section.get(key) ?? []), value!]);
  }
  return sections;
}

const known = new Set<string>(Object.values(ENV_VARS));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// --- the files ---------------------------------------------------------------------------------

describe('Dockerfile', () => {
  it('has two stages: dependencies from the lockfile with npm ci, then a slim Node 24 runtime', async () => {
    const text = await read('Dockerfile');
    const steps = parseDockerfile(text);
    const froms = steps.filter((s) => s.keyword === 'FROM');
    expect(froms.map((s) => s.args)).toEqual(['${BASE_IMAGE} AS deps', '${BASE_IMAGE} AS runtime']);
    // The base is a build argument (npm run test:deploy builds on one made here), Node 24 by default.
    expect(/^ARG BASE_IMAGE=(\S+)$/m.exec(text)?.[1]).toBe('node:24-bookworm-slim');
    expect(steps.some((s) => s.stage === 0 && s.keyword === 'RUN' && /\bnpm ci\b.*--omit=dev/.test(s.args))).toBe(true);
    expect(steps.some((s) => s.stage === 0 && s.keyword === 'COPY' && s.args.includes('package-lock.json'))).toBe(true);
    const copiesFrom = steps.filter((s) => s.keyword === 'COPY' && s.args.includes('--from='));
    expect(copiesFrom.map((s) => [s.stage, /--from=(\S+)/.exec(s.args)![1]])).toEqual([[1, 'deps']]);
  });

  it('runs as a non-root user, on 8080, with a health check in node and the borg mothership command', async () => {
    const runtime = parseDockerfile(await read('Dockerfile')).filter((s) => s.stage === 1);
    const last = (keyword: string) => runtime.filter((s) => s.keyword === keyword).at(-1)?.args;
    expect(last('USER')).toBeDefined();
    expect(last('USER')).not.toMatch(/^(root|0)(:|$)/);
    // USER comes before CMD, so the server never runs as root.
    expect(runtime.findIndex((s) => s.keyword === 'USER')).toBeLessThan(runtime.findIndex((s) => s.keyword === 'CMD'));
    expect(last('EXPOSE')).toBe('8080');
    expect(JSON.parse(last('CMD')!)).toEqual(['node', 'packages/cli/bin/borg.js', 'mothership']);
    const check = JSON.parse(/CMD (\[.*\])$/.exec(last('HEALTHCHECK')!)![1]!) as string[];
    expect(check[0]).toBe('node'); // node:24-bookworm-slim has no curl or wget
    expect(check.join(' ')).toContain('/healthz');
    // Every setting the image sets is one the mothership reads.
    const env = runtime
      .filter((s) => s.keyword === 'ENV')
      .flatMap((s) => [...s.args.matchAll(/(\w+)=/g)].map((m) => m[1]!));
    expect(env.filter((name) => name.startsWith('BORG_') && !known.has(name))).toEqual([]);
  });

  it('keeps node_modules, .git, tests and data out of the build context', async () => {
    const ignored = (await read('.dockerignore')).split('\n').filter((l) => l && !l.startsWith('#'));
    expect(ignored).toEqual(
      expect.arrayContaining(['.git', '**/node_modules', 'test', 'packages/*/test', '**/borg-data*']),
    );
    // …but not what the server needs at run time.
    expect(ignored.filter((l) => /^(packages|packages\/\w+|\*\*\/migrations|.*\/src)$/.test(l))).toEqual([]);
  });
});

describe('docker-compose.yml', () => {
  it("is the seed's deployment: mothership on 8080 with mothership_storage, PostgreSQL with postgres_data", async () => {
    const compose = parseYaml(await read('docker-compose.yml')) as {
      services: Record<string, Record<string, unknown>>;
      volumes: Record<string, unknown>;
    };
    expect(Object.keys(compose.services).sort()).toEqual(['mothership', 'postgres']);
    expect(Object.keys(compose.volumes).sort()).toEqual(['mothership_storage', 'postgres_data']);
    const { mothership, postgres } = compose.services as Record<string, Record<string, unknown>>;
    const env = mothership!.environment as Record<string, string>;

    expect(mothership!.build).toBe('.');
    // Published on this machine only, unless BORG_PUBLISH says otherwise.
    expect((mothership!.ports as string[]).map((port) => interpolate(port, {}))).toEqual(['127.0.0.1:8080:8080']);
    expect((mothership!.ports as string[]).map((port) => interpolate(port, { BORG_PUBLISH: '0.0.0.0' }))).toEqual([
      '0.0.0.0:8080:8080',
    ]);
    expect(mothership!.volumes).toEqual([`mothership_storage:${env.BORG_STORAGE_DIR}`]);
    expect(mothership!.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    expect((mothership!.healthcheck as { test: string[] }).test.join(' ')).toMatch(/^CMD-SHELL node -e .*\/readyz/);
    expect(interpolate(postgres!.image as string, {})).toBe('postgres:15');
    expect(postgres!.volumes).toEqual(['postgres_data:/var/lib/postgresql/data']);
    expect((postgres!.healthcheck as { test: string[] }).test.join(' ')).toContain('pg_isready');

    // The database URL points at the postgres service, with its user, password and database.
    const pgEnv = postgres!.environment as Record<string, string>;
    const password = { POSTGRES_PASSWORD: 'a-password' };
    const url = new URL(interpolate(env.DATABASE_URL!, password));
    expect([url.hostname, url.port, url.username, url.password, url.pathname]).toEqual([
      'postgres',
      '5432',
      pgEnv.POSTGRES_USER,
      interpolate(pgEnv.POSTGRES_PASSWORD!, password),
      `/${pgEnv.POSTGRES_DB}`,
    ]);
    // There is no default password: without one, compose refuses to start either service.
    expect(() => interpolate(env.DATABASE_URL!, {})).toThrow(/POSTGRES_PASSWORD/);
    expect(() => interpolate(pgEnv.POSTGRES_PASSWORD!, {})).toThrow(/POSTGRES_PASSWORD/);
    // Every variable it gives the mothership is one the mothership reads (a typo would be ignored silently).
    expect(Object.keys(env).filter((name) => !known.has(name))).toEqual([]);
  });
});

// --- the commands, run directly ------------------------------------------------------------------

describe("the image's command, run directly with the compose file's environment", () => {
  let child: ChildProcess | undefined;
  let database: TestDatabase | undefined;
  const dirs: string[] = [];
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await database?.drop();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('starts, answers /healthz, /readyz and both health checks, logs JSON without tokens, and stops on SIGTERM', async () => {
    const steps = parseDockerfile(await read('Dockerfile')).filter((s) => s.stage === 1);
    const cmd = JSON.parse(steps.find((s) => s.keyword === 'CMD')!.args) as string[];
    const imageCheck = JSON.parse(/CMD (\[.*\])$/.exec(steps.find((s) => s.keyword === 'HEALTHCHECK')!.args)![1]!);
    const compose = parseYaml(await read('docker-compose.yml')) as {
      services: { mothership: { environment: Record<string, string>; healthcheck: { test: string[] } } };
    };
    const composeEnv = Object.fromEntries(
      Object.entries(compose.services.mothership.environment).map(([k, v]) => [
        k,
        interpolate(String(v), { POSTGRES_PASSWORD: 'a-password' }),
      ]),
    );

    const adminToken = `borg_usr_${randomBytes(16).toString('hex')}`;
    const registrationToken = `borg_reg_${randomBytes(16).toString('hex')}`;
    const storage = await mkdtemp(join(tmpdir(), 'borg-image-storage-'));
    dirs.push(storage);
    // A migrated database of the engine under test (for PGlite, a copy of the migrated template
    // in the data directory: creating one from nothing takes 3-12 s).
    database = await createTestDatabase();
    const port = await freePort();
    // What differs from the container: the database's address, the volume's path, a free port.
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      BORG_DATA_DIR: database.dataDir, // the image's ENV; only the embedded engine uses it
      ...composeEnv,
      BORG_HOST: '127.0.0.1',
      BORG_PORT: String(port),
      BORG_STORAGE_DIR: storage,
      BORG_ADMIN_TOKEN: adminToken,
      BORG_REGISTRATION_TOKEN: registrationToken,
    };
    if (ENGINE === 'postgres') {
      env.DATABASE_URL = database.databaseUrl;
    } else {
      delete env.DATABASE_URL; // embedded PostgreSQL in BORG_DATA_DIR
    }

    let output = '';
    child = spawn(cmd[0] === 'node' ? process.execPath : cmd[0]!, cmd.slice(1), {
      cwd: root, // the image's WORKDIR holds the repository as it is here
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | string>((resolve) =>
      child!.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
    );
    const base = `http://127.0.0.1:${port}`;
    await eventually(
      () =>
        fetch(`${base}/healthz`).then(
          (r) => r.ok,
          () => false,
        ),
      30_000,
      `the mothership to answer (${output})`,
    );

    expect(await (await fetch(`${base}/readyz`)).json()).toEqual({
      ok: true,
      database: true,
      migrations: true,
      storage: true,
    });
    const [program, ...args] = imageCheck as string[];
    expect(program).toBe('node');
    await run(process.execPath, args, { env }); // rejects unless the check exits 0
    // The compose file's is a shell line (CMD-SHELL), as the container runs it: node from the PATH.
    const [kind, line] = compose.services.mothership.healthcheck.test;
    expect([kind, line!.split(' ')[0]]).toEqual(['CMD-SHELL', 'node']);
    await run('/bin/sh', ['-c', line!], { env: { ...env, PATH: `${dirname(process.execPath)}:${env.PATH}` } });

    // Requests carrying tokens in every place one can be: none may reach the log.
    const listed = await fetch(`${base}/api/v1/jobs`, { headers: { authorization: `Bearer ${adminToken}` } });
    expect(listed.status).toBe(200);
    const requestId = listed.headers.get('x-request-id');
    await fetch(`${base}/ws?token=${adminToken}`); // not an upgrade: refused, but logged with its URL
    await fetch(`${base}/api/v1/nowhere?token=${registrationToken}`, { headers: { authorization: 'Bearer nonsense' } });

    child.kill('SIGTERM');
    expect(await exited).toBe(0);

    const lines = output.split('\n').filter((l) => l.startsWith('{'));
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries.length).toBeGreaterThan(3);
    const ofRequest = entries.filter((e) => e.reqId === requestId);
    expect(ofRequest.map((e) => e.msg)).toEqual(['incoming request', 'request completed']);
    expect(ofRequest[1]).toMatchObject({ res: { statusCode: 200 }, responseTime: expect.any(Number) });
    expect(output).toContain('/ws?token=[REDACTED]');
    for (const secret of [adminToken, registrationToken, 'nonsense']) expect(output).not.toContain(secret);
  }, 60_000);
});

describe('deploy/borg-solder.service', () => {
  const borg = useTestMothership();

  async function unit() {
    const text = await read('deploy/borg-solder.service');
    const service = parseUnit(text).get('Service')!;
    const one = (key: string) => service.get(key)?.at(-1);
    const environment = Object.fromEntries(
      (service.get('Environment') ?? []).map((e) => e.split('=', 2) as [string, string]),
    );
    return { text, one, environment };
  }

  it('runs borg solder as its own user, restarts on failure but not on a configuration error', async () => {
    const { one } = await unit();
    expect(one('ExecStart')).toMatch(/ \/opt\/borg\/packages\/cli\/bin\/borg\.js solder$/);
    expect(one('User')).toBe('borg');
    expect(one('EnvironmentFile')).toBe('/etc/borg/solder.env');
    expect(one('Restart')).toBe('on-failure');
    expect(one('RestartPreventExitStatus')).toBe('78');
  });

  it('signals the solder alone with SIGTERM, and waits long enough for a drain, a cancel and the last reports', async () => {
    const { one, environment } = await unit();
    expect(one('KillSignal')).toBe('SIGTERM');
    expect(one('KillMode')).toBe('mixed');
    const drain = Number(environment.DRAIN_SECONDS);
    const defaultGrace = 10; // BORG_CANCEL_GRACE_PERIOD's default (docs/solder.md)
    expect(Number(one('TimeoutStopSec'))).toBeGreaterThanOrEqual(drain + defaultGrace + 20);
  });

  it('names only settings the solder reads, in the unit and in the example environment file', async () => {
    const { environment } = await unit();
    const example = await read('deploy/borg-solder.env.example');
    const names = [
      ...Object.keys(environment),
      ...[...example.matchAll(/^#? ?(BORG_\w+)=/gm)].map((m) => m[1]!),
    ].filter((n) => n.startsWith('BORG_'));
    const solderVars = new Set<string>(Object.values(SOLDER_ENV_VARS));
    expect(names.length).toBeGreaterThan(3);
    expect(names.filter((n) => !solderVars.has(n))).toEqual([]);
  });

  const systemdAnalyze = '/usr/bin/systemd-analyze';
  const haveSystemdAnalyze = access(systemdAnalyze).then(
    () => true,
    () => false,
  );
  it('passes systemd-analyze verify (where systemd is installed)', async (context) => {
    if (!(await haveSystemdAnalyze)) return context.skip();
    const { text } = await unit();
    const dir = await mkdtemp(join(tmpdir(), 'borg-unit-'));
    try {
      // Where node lives is the installer's business; the rest is checked as written.
      const path = join(dir, 'borg-solder.service');
      await writeFile(path, text.replaceAll('/usr/bin/node', process.execPath));
      const { stdout, stderr } = await run(systemdAnalyze, ['verify', path]);
      expect(stdout + stderr).toBe('');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stops a solder as systemd would: drain, then cancel its running task, and the task goes back to the queue', async () => {
    const { one } = await unit();
    // systemd's own substitution: ${MAINPID} and ${DRAIN_SECONDS}, then $$ → $.
    const [, script] = /^\/bin\/sh -c '(.*)'$/.exec(one('ExecStop')!)!;
    const solder = await spawnSolder(borg());
    try {
      await eventually(() => solder.output().includes('ready'), 20_000, 'the solder to register');
      const job = await borg().admin.createJob({
        name: 'stopped',
        type: 'shell',
        command: 'sleep 60',
        max_attempts: 2,
      });
      await eventually(
        async () => (await borg().admin.getJob(job.id)).tasks[0]!.status === 'running',
        20_000,
        'the task to run',
      );
      const execStop = script!
        .replaceAll('${MAINPID}', String(solder.child.pid))
        .replaceAll('${DRAIN_SECONDS}', '1') // the drain is cut short: the task would take a minute
        .replaceAll('$$', '$');
      const started = performance.now();
      await run('/bin/sh', ['-c', execStop]);
      expect(await solder.exited).toBe(0);
      // spawnSolder's cancel grace is 1 s; the unit's timeout allows for the default 10 s.
      expect(performance.now() - started).toBeLessThan(Number(one('TimeoutStopSec')) * 1000);
      expect(solder.output()).toMatch(/finishing running tasks[\s\S]*cancelling running tasks/);

      const tasks = (await borg().admin.getJob(job.id)).tasks;
      expect(tasks.map((t) => [t.attempt, t.status, t.reason])).toEqual([
        [1, 'cancelled', 'agent_stop'],
        [2, 'pending', null],
      ]);
    } finally {
      await solder.cleanup();
    }
  });
});
