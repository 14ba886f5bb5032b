import pg from 'pg';

/** An admin URL of the PostgreSQL server the benchmarks use (a fresh database per run is made on it). */
export const ADMIN_DATABASE_URL = process.env.BORG_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

let counter = 0;

export interface BenchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/**
 * A fresh, empty database on the shared server, named after this process so that parallel runs
 * never meet, and dropped afterwards (WITH FORCE: a benchmark that failed half way may leave
 * connections behind).
 */
export async function createBenchDatabase(label: string): Promise<BenchDatabase> {
  const name = `borg_bench_${process.pid}_${label}_${counter++}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return { name, url: url.toString(), drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/**
 * Drops the databases of earlier runs that were killed before they could drop their own: each
 * name carries its run's pid, and a pid no longer alive here cannot be using it. Only on a
 * server on this machine, where the pid means something.
 */
export async function dropLeftoverBenchDatabases(): Promise<string[]> {
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(new URL(ADMIN_DATABASE_URL).hostname)) return [];
  const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname ~ '^borg_bench_[0-9]+_'",
    );
    const leftover = rows.map((r) => r.datname).filter((name) => !isAlive(Number(name.split('_')[2])));
    for (const name of leftover) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    return leftover;
  } finally {
    await client.end();
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive, but another user's.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
