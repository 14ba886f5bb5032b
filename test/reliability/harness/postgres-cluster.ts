import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import pg from 'pg';

const run = promisify(execFile);
const BIN = process.env.BORG_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/**
 * A throwaway PostgreSQL cluster of the chaos suite's own (initdb into a temp directory, a free
 * port on loopback), so scenarios can restart it, kill its backends and freeze it without
 * touching the shared server other tests use. initdb refuses to run as root, so as root every
 * command runs as the `postgres` user through runuser.
 */
export class PostgresCluster {
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  static async available(): Promise<boolean> {
    try {
      await run(join(BIN, 'initdb'), ['--version']);
      return process.getuid?.() !== 0 || (await run('id', ['postgres']).then(() => true));
    } catch {
      return false;
    }
  }

  static async create(): Promise<PostgresCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'borg-chaos-pg-'));
    const cluster = new PostgresCluster(dir, await freePort());
    if (process.getuid?.() === 0) {
      await chmod(dir, 0o777);
      await run('chown', ['postgres', dir]);
    }
    await cluster.as(join(BIN, 'initdb'), ['-D', cluster.data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
    await cluster.start();
    return cluster;
  }

  get data(): string {
    return join(this.dir, 'data');
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  urlOf(database: string): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  private as(command: string, args: string[]) {
    const asRoot = process.getuid?.() === 0;
    return run(asRoot ? 'runuser' : command, asRoot ? ['-u', 'postgres', '--', command, ...args] : args, {
      cwd: this.dir,
    });
  }

  private ctl(args: string[]) {
    return this.as(join(BIN, 'pg_ctl'), ['-D', this.data, '-l', join(this.dir, 'log'), ...args]);
  }

  async start(): Promise<void> {
    // fsync off: the cluster is thrown away, and a crash restart (immediate) still replays the WAL.
    await this.ctl([
      '-w',
      '-o',
      `-p ${this.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${this.dir} -c fsync=off -c max_connections=200`,
      'start',
    ]);
  }

  /** `pg_ctl restart -m fast` (clean) or `-m immediate` (a crash: recovery replays the WAL). */
  async restart(mode: 'fast' | 'immediate'): Promise<void> {
    await this.ctl(['-w', '-m', mode, 'stop']);
    await this.start();
  }

  /** Stops it (`-m immediate` is a crash); start() brings it back. */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.ctl(['-w', '-m', mode, 'stop']);
  }

  /** The postmaster's pid, for SIGSTOP/SIGCONT of the whole server (backends are its children). */
  async postmasterPid(): Promise<number> {
    return Number((await readFile(join(this.data, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  }

  /** Freezes every process of the server (postmaster and backends), as a stalled host would. */
  async freeze(): Promise<number[]> {
    const pids = await this.serverPids();
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    return pids;
  }

  thaw(pids: number[]): void {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // gone
      }
    }
  }

  private async serverPids(): Promise<number[]> {
    const master = await this.postmasterPid();
    const { stdout } = await run('ps', ['-o', 'pid=', '--ppid', String(master)]);
    return [master, ...stdout.split('\n').map(Number).filter(Boolean)];
  }

  /** Runs one statement on a connection of its own (admin work: create a database, kill a backend). */
  async sql<R = Record<string, unknown>>(
    statement: string,
    params: unknown[] = [],
    database = 'postgres',
  ): Promise<R[]> {
    const client = new pg.Client({ connectionString: this.urlOf(database) });
    await client.connect();
    try {
      return (await client.query(statement, params)).rows as R[];
    } finally {
      await client.end();
    }
  }

  async createDatabase(name: string): Promise<string> {
    await this.sql(`CREATE DATABASE ${name}`);
    return this.urlOf(name);
  }

  async destroy(): Promise<void> {
    await this.ctl(['-w', '-m', 'immediate', 'stop']).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
