/**
 * Figure 1, dispatch latency: one job at a time, each after a random idle gap, to a solder idle
 * in its long-poll. Borg: submit (HTTP POST /jobs) → the claim answer in the solder's hands, and
 * → the task's process started. Reference, in the same run and rounds: graphile-worker
 * add_job → handler start on the same PostgreSQL, and a bare Node spawn of the same command.
 */
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import pg from 'pg';

import { startSolder } from '../../test/test-solder.ts';
import { createBenchDatabase } from '../lib/bench-database.ts';
import { type Figure, scaled } from '../lib/figure.ts';
import { startGraphile } from '../lib/graphile.ts';
import { startMothershipProcess } from '../lib/mothership-process.ts';
import { quantile, round, sleep, sorted, wallMs } from '../lib/stats.ts';

const ROUNDS = 3;
/** The command every system starts: it writes the moment its process ran (ns since the epoch). */
const COMMAND = 'date +%s%N > "$BENCH_STARTS/$BORG_JOB_ID"';

const idleGap = () => sleep(10 + Math.random() * 40);

/** Waits for check() to be true, polling lightly (only between measured samples). */
async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('dispatch benchmark: a task did not arrive in 10 s');
    await sleep(1);
  }
}

async function startedAtMs(dir: string, name: string): Promise<number> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const text = await readFile(join(dir, name), 'utf8').catch(() => '');
    if (text.trim()) return Number(BigInt(text.trim()) / 1000n) / 1000;
    await sleep(2);
  }
  throw new Error(`dispatch benchmark: no start time written for ${name} in 10 s`);
}

export const dispatchLatency: Figure = {
  figure: 1,
  name: 'dispatch',
  async run() {
    const perRound = scaled(100, 10);
    const database = await createBenchDatabase('dispatch');
    const starts = await mkdtemp(join(tmpdir(), 'borg-bench-starts-'));
    // A solder running as root runs tasks as an unprivileged user, who must be able to write here.
    await chmod(starts, 0o1777);
    const mothership = await startMothershipProcess({ databaseUrl: database.url });
    const handedAt = new Map<string, number>();
    const finished = new Set<string>();
    const solder = await startSolder(
      mothership,
      { maxConcurrentTasks: 1, longPollSeconds: 30 },
      {
        // The agent logs 'task started' the moment it has parsed a claim answer: that is the hand-over.
        log: (message, fields) => {
          if (message === 'task started') handedAt.set(String(fields?.job_id), wallMs());
          if (message === 'task finished') finished.add(String(fields?.task_id));
        },
      },
    );
    const graphileStarted = new Map<number, number>();
    const graphile = await startGraphile({
      connectionString: database.url,
      concurrency: 1,
      taskList: {
        bench: async (payload) => {
          graphileStarted.set((payload as { i: number }).i, wallMs());
        },
      },
    });
    const adder = new pg.Client({ connectionString: database.url });
    await adder.connect();

    const borg = { handOver: [] as number[], process: [] as number[] };
    const graphileMs: number[] = [];
    const spawnMs: number[] = [];
    try {
      // Warm-up: the first of each pays for compiling code paths.
      await sleep(500);
      for (let round = 0; round < ROUNDS; round++) {
        for (let i = 0; i < perRound; i++) {
          await idleGap();
          const submitted = wallMs();
          const job = await mothership.admin.createJob({
            name: `dispatch-${round}-${i}`,
            type: 'shell',
            command: COMMAND,
            env: { BENCH_STARTS: starts },
          });
          await until(() => handedAt.has(job.id));
          const started = await startedAtMs(starts, job.id);
          borg.handOver.push(handedAt.get(job.id)! - submitted);
          borg.process.push(started - submitted);
          await until(() => finished.size === borg.handOver.length); // the solder is idle again
        }
        for (let i = 0; i < perRound; i++) {
          await idleGap();
          const key = round * perRound + i;
          const added = wallMs();
          await adder.query(`SELECT graphile_worker.add_job('bench', json_build_object('i', $1::integer))`, [key]);
          await until(() => graphileStarted.has(key));
          graphileMs.push(graphileStarted.get(key)! - added);
        }
        for (let i = 0; i < perRound; i++) {
          await idleGap();
          const name = `spawn-${round}-${i}`;
          const spawned = wallMs();
          const child = spawn('/bin/sh', ['-c', COMMAND], {
            env: { ...process.env, BENCH_STARTS: starts, BORG_JOB_ID: name },
            stdio: 'ignore',
          });
          await new Promise((resolve) => child.once('exit', resolve));
          spawnMs.push((await startedAtMs(starts, name)) - spawned);
        }
      }
    } finally {
      await adder.end();
      await graphile.stop();
      await solder.stop();
      await mothership.stop();
      await database.drop();
      await rm(starts, { recursive: true, force: true });
    }

    const q = (values: number[]) => {
      const s = sorted(values);
      return { p50: round(quantile(s, 0.5)), p99: round(quantile(s, 0.99)) };
    };
    const handOver = q(borg.handOver);
    const processStart = q(borg.process);
    const reference = q(graphileMs);
    const bareSpawn = q(spawnMs);
    const vsGraphile = { p50: handOver.p50 / reference.p50, p99: handOver.p99 / reference.p99 };
    const processBudget = handOver.p50 + 1.2 * bareSpawn.p50;
    const met =
      handOver.p50 <= 5 &&
      handOver.p99 <= 25 &&
      handOver.p50 <= 1.5 * reference.p50 &&
      handOver.p99 <= 1.5 * reference.p99 &&
      processStart.p50 <= processBudget;
    return {
      figure: 1,
      name: 'dispatch',
      title: 'dispatch latency (PostgreSQL)',
      borg: `hand-over p50 ${handOver.p50} ms, p99 ${handOver.p99} ms; process started p50 ${processStart.p50} ms, p99 ${processStart.p99} ms`,
      reference: `graphile add_job→handler p50 ${reference.p50} ms, p99 ${reference.p99} ms; bare spawn p50 ${bareSpawn.p50} ms, p99 ${bareSpawn.p99} ms`,
      ratio: `hand-over ${vsGraphile.p50.toFixed(2)}× (p50), ${vsGraphile.p99.toFixed(2)}× (p99) graphile; process start p50 ${processStart.p50} ms vs budget ${round(processBudget)} ms`,
      goal: 'hand-over p50 ≤ 5 ms, p99 ≤ 25 ms, ≤ 1.5× graphile; process start ≤ hand-over + 1.2× bare spawn',
      met,
      scale: `${ROUNDS * perRound} jobs per system, ${ROUNDS} interleaved rounds, idle gap 10-50 ms`,
      details: {
        samples: borg.handOver.length,
        hand_over_ms: handOver,
        process_start_ms: processStart,
        graphile_ms: reference,
        bare_spawn_ms: bareSpawn,
        process_start_budget_ms: round(processBudget),
      },
    };
  },
};
