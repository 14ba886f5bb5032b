/**
 * Figure 3, real-process throughput: `/bin/true` tasks (binary type: no shell) run by a real
 * `borg solder` process at concurrency C, from the first submit to the last task recorded as
 * succeeded. References: a bare Node loop spawning `/bin/true` with C in flight, and what the
 * machine allows (the same loop in Python with posix_spawn).
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

/**
 * What the machine allows: the same loop in Python with `os.posix_spawn` (no fork of a large
 * process), C in flight. Node's own `child_process.spawn` is several times slower than this here.
 */
const MACHINE_LOOP = `
import os, sys, time
n, c = int(sys.argv[1]), int(sys.argv[2])
started = done = 0
t0 = time.perf_counter()
while done < n:
    while started - done < c and started < n:
        os.posix_spawn('/bin/true', ['/bin/true'], {})
        started += 1
    os.wait()
    done += 1
print(n / (time.perf_counter() - t0))
`;

async function machineSpawns(count: number): Promise<number | null> {
  const child = spawn('python3', ['-c', MACHINE_LOOP, String(count), String(CONCURRENCY)], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const ok = await new Promise<boolean>((resolve) => {
    child.once('error', () => resolve(false));
    child.once('exit', (code) => resolve(code === 0));
  });
  return ok ? Number(output.trim()) : null; // no python3: the figure goes without it
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
    const machineRates: number[] = [];
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
        const machine = await machineSpawns(perRound);
        if (machine !== null) machineRates.push(machine);
      }
    } finally {
      await solder.stop();
      await mothership.stop();
      await database.drop();
    }
    const borg = median(borgRates);
    const reference = median(bareRates);
    const machine = machineRates.length > 0 ? median(machineRates) : null;
    const machineText = machine ? `; the machine (Python posix_spawn loop): ${round(machine)} /s` : '';
    return {
      figure: 3,
      name: 'processes',
      title: `real-process throughput, C = ${CONCURRENCY}`,
      borg: `${round(borg)} tasks/s`,
      reference: `bare Node spawn of /bin/true: ${round(reference)} /s${machineText}`,
      ratio:
        ratioText(borg / reference, 'the Node loop') + (machine ? `; ${ratioText(borg / machine, 'the machine')}` : ''),
      goal: '≥ 0.7× the Node loop (issue 18); the moonshot ≥ 0.9× the machine',
      met: borg / reference >= 0.7,
      scale: `${ROUNDS} rounds of ${perRound} tasks (${ROUNDS * perRound} in all), one solder with ${CONCURRENCY} slots`,
      details: {
        borg_tasks_per_s: borgRates.map((r) => round(r)),
        bare_spawns_per_s: bareRates.map((r) => round(r)),
        machine_spawns_per_s: machineRates.map((r) => round(r)),
      },
    };
  },
};
