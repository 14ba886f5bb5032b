/**
 * Figure 7, idle memory: the RSS of a mothership that has started and then sat idle (on
 * PostgreSQL, and on embedded PGlite), and of an idle solder registered with it, as workers run
 * it: the bundle install.sh puts there (dist/node/borg-solder.mjs). Each is read SAMPLES times a
 * second apart after SETTLE_MS, and the median reported.
 */
import { join } from 'node:path';

import { createBenchDatabase } from '../lib/bench-database.ts';
import type { Figure } from '../lib/figure.ts';
import { ROOT, startMothershipProcess } from '../lib/mothership-process.ts';
import { memoryOf } from '../lib/proc.ts';
import { median, round, sleep } from '../lib/stats.ts';
import { spawnSolderProcess } from './process-throughput.ts';

const SETTLE_MS = 5_000;
const SAMPLES = 5;

async function idleRss(pid: number): Promise<number> {
  await sleep(SETTLE_MS);
  const samples: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    samples.push((await memoryOf(pid)).rssMb);
    await sleep(1_000);
  }
  return median(samples);
}

export const idleMemory: Figure = {
  figure: 7,
  name: 'memory',
  async run() {
    const database = await createBenchDatabase('memory');
    let postgresMb: number;
    let solderMb: number;
    const onPostgres = await startMothershipProcess({ databaseUrl: database.url });
    try {
      const solder = await spawnSolderProcess(onPostgres, 4, [join(ROOT, 'dist/node/borg-solder.mjs')]);
      try {
        [postgresMb, solderMb] = await Promise.all([idleRss(onPostgres.pid), idleRss(solder.child.pid!)]);
      } finally {
        await solder.stop();
      }
    } finally {
      await onPostgres.stop();
      await database.drop();
    }
    const onPglite = await startMothershipProcess();
    let pgliteMb: number;
    try {
      pgliteMb = await idleRss(onPglite.pid);
    } finally {
      await onPglite.stop();
    }
    return {
      figure: 7,
      name: 'memory',
      title: 'idle memory (RSS)',
      borg: `mothership ${round(postgresMb)} MB on PostgreSQL, ${round(pgliteMb)} MB on PGlite; solder ${round(solderMb)} MB`,
      reference: '—',
      ratio: '—',
      goal: 'mothership (PostgreSQL) ≤ 80 MB, PGlite reported; solder ≤ 50 MB',
      met: postgresMb <= 80 && solderMb <= 50,
      scale: `median of ${SAMPLES} readings after ${SETTLE_MS / 1000} s idle`,
      details: {
        mothership_postgres_mb: round(postgresMb),
        mothership_pglite_mb: round(pgliteMb),
        solder_mb: round(solderMb),
      },
    };
  },
};
