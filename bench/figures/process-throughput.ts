/**
 * Figure 3, real-process throughput: `/bin/true` tasks (binary type: no shell) run by a real
 * `borg solder` process at concurrency C, from the first submit to the last task recorded as
 * succeeded. Reference: a bare Node loop spawning `/bin/true` with C in flight.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { createBenchDatabase } from '../lib/bench-database.ts';
import { type Figure, ratioText, scaled } from '../lib/figure.ts';
import { BORG_BIN, type MothershipProcess, ROOT, startMothershipProcess } from '../lib/mothership-process.ts';
import { inParallel, median, round, sleep } from '../lib/stats.ts';

const ROUNDS = 2;
export const CONCURRENCY = 4;

async function bareSpawns(count: number): Promise<number> {
  const started = performance.now();
  await inParallel(count, CONCURRENCY, async () => {
    const child = spawn('/bin/true', [], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('exit', resolve));
  });
  return count / ((performance.now() - started) / 1000);
}

async function succeededCount(mothership: MothershipProcess): Promise<number> {
  return (await mothership.admin.stats()).tasks.succeeded;
}

/** A `borg solder` child process against the mothership, with C slots. */
/** `borg solder` (or, given `command`, another way of starting the same solder) as a child process. */
export async function spawnSolderProcess(
  mothership: MothershipProcess,
  slots: number,
  command: string[] = [BORG_BIN, 'solder'],
) {
  const stateDir = await mkdtemp(join(tmpdir(), 'borg-bench-solder-'));
  const profileDir = process.env.BORG_BENCH_PROFILE_DIR;
  const child = spawn(
    process.execPath,
    [
      ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      ...command,
      '--mothership',
      mothership.url,
      '--registration-token',
      mothership.registrationToken,
      '--state-dir',
      stateDir,
      '--max-concurrent-tasks',
      String(slots),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BORG_LOG_LEVEL: 'warn' } },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

export const processThroughput: Figure = {
  figure: 3,
  name: 'processes',
  async run() {
    const perRound = scaled(1_000, 20);
    const database = await createBenchDatabase('processes');
    const mothership = await startMothershipProcess({ databaseUrl: database.url });
    const solder = await spawnSolderProcess(mothership, CONCURRENCY);
    const borgRates: number[] = [];
    const bareRates: number[] = [];
    try {
      for (let i = 0; ; i++) {
        if ((await mothership.admin.listRunners()).items.length > 0) break;
        if (i > 200) throw new Error(`the solder did not register:\n${solder.output()}`);
        await sleep(100);
      }
      await sleep(500);
      for (let r = 0; r < ROUNDS; r++) {
        const before = await succeededCount(mothership);
        const started = performance.now();
        await mothership.admin.createJob({
          name: `true-${r}`,
          type: 'binary',
          command: ['/bin/true'],
          array_size: perRound,
        });
        while ((await succeededCount(mothership)) < before + perRound) await sleep(50);
        borgRates.push(perRound / ((performance.now() - started) / 1000));
        bareRates.push(await bareSpawns(perRound));
      }
    } finally {
      await solder.stop();
      await mothership.stop();
      await database.drop();
    }
    const borg = median(borgRates);
    const reference = median(bareRates);
    return {
      figure: 3,
      name: 'processes',
      title: `real-process throughput, C = ${CONCURRENCY}`,
      borg: `${round(borg)} tasks/s`,
      reference: `bare spawn of /bin/true: ${round(reference)} /s`,
      ratio: ratioText(borg / reference, 'bare spawn'),
      goal: '≥ 0.9× bare spawn',
      met: borg / reference >= 0.9,
      scale: `${ROUNDS} rounds of ${perRound} tasks (${ROUNDS * perRound} in all), one solder with ${CONCURRENCY} slots`,
      details: { borg_tasks_per_s: borgRates.map((r) => round(r)), bare_spawns_per_s: bareRates.map((r) => round(r)) },
    };
  },
};
