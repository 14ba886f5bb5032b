import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BorgClient } from '@borg/protocol';

import { cpuSecondsOf, memoryOf } from './proc.ts';
import { sleep } from './stats.ts';

export const ROOT = new URL('../../', import.meta.url).pathname;
export const BORG_BIN = join(ROOT, 'packages/cli/bin/borg.js');

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface MothershipProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  adminToken: string;
  registrationToken: string;
  dataDir: string;
  /** A typed client with the admin token. */
  admin: BorgClient;
  output(): string;
  memory(): Promise<{ rssMb: number; peakMb: number }>;
  cpuSeconds(): Promise<number>;
  stop(): Promise<void>;
}

export interface MothershipProcessOptions {
  /** A PostgreSQL database; without it the mothership runs on embedded PGlite in a fresh data dir. */
  databaseUrl?: string;
  env?: Record<string, string>;
  /** Extra node flags (e.g. --cpu-prof). BORG_BENCH_PROFILE_DIR adds --cpu-prof for every mothership. */
  nodeArgs?: string[];
}

/**
 * `borg mothership` as a child process, as it is deployed: its CPU and memory are then its own,
 * apart from the benchmark's client side.
 */
export async function startMothershipProcess(options: MothershipProcessOptions = {}): Promise<MothershipProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), 'borg-bench-mothership-'));
  if (!options.databaseUrl) await seedPglite(dataDir);
  const adminToken = `bench-admin-${randomBytes(12).toString('hex')}`;
  const registrationToken = `bench-reg-${randomBytes(12).toString('hex')}`;
  const { url, child, output, exited } = await spawnMothership({
    env: {
      ...(options.databaseUrl ? { DATABASE_URL: options.databaseUrl } : {}),
      BORG_DATA_DIR: dataDir,
      BORG_ADMIN_TOKEN: adminToken,
      BORG_REGISTRATION_TOKEN: registrationToken,
      ...options.env,
    },
    nodeArgs: options.nodeArgs,
  });
  const pid = child.pid!;
  return {
    url,
    pid,
    child,
    adminToken,
    registrationToken,
    dataDir,
    admin: new BorgClient({ baseUrl: url, token: adminToken }),
    output: () => output.join(''),
    memory: () => memoryOf(pid),
    cpuSeconds: async () => (await cpuSecondsOf(pid)) ?? NaN,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(killer);
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Spawns `borg mothership` on a free loopback port with only PATH, HOME, a quiet log level and
 * `env` in its environment, and waits until /readyz answers. BORG_BENCH_PROFILE_DIR adds
 * --cpu-prof, BORG_BENCH_NODE_ARGS any node flags. Used by the figures (through
 * startMothershipProcess) and by simulated-runners.ts.
 */
export async function spawnMothership(options: {
  env: Record<string, string>;
  nodeArgs?: string[];
  /** How long to wait for /readyz. */
  startTimeoutMs?: number;
  /** Where its stdout and stderr go, chunk by chunk (a new array by default). */
  output?: string[];
}): Promise<{ url: string; child: ChildProcess; output: string[]; exited: Promise<void> }> {
  const port = await freePort();
  const profileDir = process.env.BORG_BENCH_PROFILE_DIR;
  // BORG_BENCH_NODE_ARGS: node flags for every mothership, to compare V8 settings in one tree.
  const nodeArgs = [
    ...(options.nodeArgs ?? []),
    ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
    ...(process.env.BORG_BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
  ];
  const child = spawn(
    process.execPath,
    [...nodeArgs, BORG_BIN, 'mothership', '--host', '127.0.0.1', '--port', String(port)],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH, HOME: process.env.HOME, BORG_LOG_LEVEL: 'warn', ...options.env },
    },
  );
  const output = options.output ?? [];
  child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = performance.now() + (options.startTimeoutMs ?? 60_000);
  for (;;) {
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return { url, child, output, exited };
    if (performance.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`the mothership on port ${port} did not start:\n${output.join('')}`);
    }
    await sleep(250);
  }
}

/**
 * Copies a migrated PGlite database into the data directory (building the template the tests
 * also use, if missing): migrating a fresh PGlite costs seconds and leaves the process's memory
 * high, which would be measured instead of the idle server.
 */
async function seedPglite(dataDir: string): Promise<void> {
  // Imported here, not at the top: simulated-runners.ts spawns through this file and should not
  // load PGlite (~45 MB) for nothing.
  const { pgliteTemplateDir } = await import('../../test/test-database.ts');
  const { PgliteDatabase } = await import('../../packages/mothership/src/db/pglite-database.ts');
  const { migrate } = await import('../../packages/mothership/src/db/migrate.ts');
  const template = await pgliteTemplateDir();
  const exists = await stat(join(template, 'PG_VERSION')).then(
    () => true,
    () => false,
  );
  if (!exists) {
    const building = `${template}.building-${process.pid}`;
    await rm(building, { recursive: true, force: true });
    await mkdir(building, { recursive: true });
    const db = await PgliteDatabase.open(building);
    await migrate(db);
    await db.close();
    await rename(building, template).catch(() => rm(building, { recursive: true, force: true }));
  }
  await cp(template, join(dataDir, 'pglite'), { recursive: true });
}
