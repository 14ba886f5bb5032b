import { createHash, randomBytes } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import pg from 'pg';

import { migrate, MIGRATIONS_DIR } from '../packages/mothership/src/db/migrate.ts';
import { PgDatabase } from '../packages/mothership/src/db/pg-database.ts';
import { PgliteDatabase } from '../packages/mothership/src/db/pglite-database.ts';

/**
 * Test databases are cloned from a migrated template, because creating a PGlite database
 * costs 3-12 s and ~800 MB while copying a migrated one costs ~0.1 s.
 * - PGlite: a template directory keyed by the migrations' hash, copied per test;
 * - PostgreSQL: a template database, `CREATE DATABASE … TEMPLATE` per test.
 */
export const TEST_DATABASE_URL = process.env.BORG_TEST_DATABASE_URL;
export const ENGINE: 'postgres' | 'pglite' = TEST_DATABASE_URL ? 'postgres' : 'pglite';

/**
 * One template database per checkout, so suites of two checkouts (a CI clone beside the working
 * tree) can run against one server at once: each drops and rebuilds only its own.
 * BORG_TEST_TEMPLATE_TAG separates runs that share a checkout (two people, two terminals).
 */
const TEMPLATE_DB = `borg_test_template_${createHash('sha256')
  .update(MIGRATIONS_DIR)
  .update(process.env.BORG_TEST_TEMPLATE_TAG ?? '')
  .digest('hex')
  .slice(0, 10)}`;

async function migrationsHash(): Promise<string> {
  const hash = createHash('sha256');
  for (const file of (await readdir(MIGRATIONS_DIR)).sort())
    hash.update(file).update(await readFile(join(MIGRATIONS_DIR, file)));
  return hash.digest('hex').slice(0, 16);
}

export async function pgliteTemplateDir(): Promise<string> {
  return join(tmpdir(), 'borg-test-templates', `pglite-${await migrationsHash()}`);
}

function databaseUrl(name: string): string {
  const url = new URL(TEST_DATABASE_URL!);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Run once before the suite (vitest globalSetup). The PGlite template is built whatever the
 * engine: tests that start `borg up` (always embedded) seed their data directory from it.
 */
export async function prepareTemplate(): Promise<void> {
  await preparePgliteTemplate();
  if (ENGINE === 'postgres') await preparePostgresTemplate();
}

async function preparePgliteTemplate(): Promise<void> {
  const dir = await pgliteTemplateDir();
  const exists = await stat(join(dir, 'PG_VERSION')).then(
    () => true,
    () => false,
  );
  if (exists) return;
  const building = `${dir}.building-${process.pid}`;
  await rm(building, { recursive: true, force: true });
  await mkdir(building, { recursive: true });
  const db = await PgliteDatabase.open(building);
  await migrate(db);
  await db.close();
  // A rename is atomic: a concurrent run sees either no template or a whole one. If another
  // run got there first, its template is as good as ours.
  await rename(building, dir).catch(() => rm(building, { recursive: true, force: true }));
}

async function preparePostgresTemplate(): Promise<void> {
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${TEMPLATE_DB} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${TEMPLATE_DB}`);
  } finally {
    await admin.end();
  }
  const db = new PgDatabase({ connectionString: databaseUrl(TEMPLATE_DB) });
  await migrate(db);
  await db.close();
}

export interface TestDatabase {
  /** Set for PostgreSQL. */
  databaseUrl?: string;
  /** The mothership's data directory (holds the PGlite database for the embedded engine). */
  dataDir: string;
  drop(): Promise<void>;
}

/** A fresh, migrated database of the engine under test, with its own data directory. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const dataDir = join(tmpdir(), 'borg-tests', `${process.pid}-${randomBytes(6).toString('hex')}`);
  await mkdir(dataDir, { recursive: true });
  if (ENGINE === 'pglite') {
    await cp(await pgliteTemplateDir(), join(dataDir, 'pglite'), { recursive: true });
    return { dataDir, drop: () => rm(dataDir, { recursive: true, force: true }) };
  }
  const name = `borg_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name} TEMPLATE ${TEMPLATE_DB}`).finally(() => admin.end());
  return {
    databaseUrl: databaseUrl(name),
    dataDir,
    drop: async () => {
      const client = new pg.Client({ connectionString: TEST_DATABASE_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => client.end());
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
