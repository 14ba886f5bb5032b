/**
 * Figure 9, runners at scale: `bench/simulated-runners.ts` (see its header) as a child process:
 * RUNNERS simulated solders register with one `borg mothership`, then heartbeat every 30 s and
 * keep a 30 s long-poll open while 2 jobs a second are submitted, for a WINDOW-second window
 * after the fleet has started. Reported: the mothership's CPU and peak RSS, heartbeat latency,
 * the longest gap between two heartbeats of one runner, and runners marked offline.
 * "Not late": no runner marked offline, no failed heartbeat, no gap over the interval + 5 s.
 * At issue 18's 20,000 the replica may be past what it can serve: long-polls shed with 503 and a
 * Retry-After are counted apart from failures (shedding them is how it degrades).
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { type Figure, scaled } from '../lib/figure.ts';
import { ROOT } from '../lib/mothership-process.ts';
import { RESULTS_DIR } from '../lib/report.ts';

const HEARTBEAT_S = 30;
const WINDOW_S = 30;

interface SimulationResult {
  registration_s: number;
  heartbeats_per_s: number;
  heartbeat_ms: { p50: number; p99: number; max: number };
  heartbeat_errors: number;
  long_polls_answered: number;
  long_poll_errors: number;
  long_polls_shed: number;
  max_gap_between_heartbeats_s: number;
  runners_marked_offline_max: number;
  jobs_submitted: number;
  jobs_claimed: number;
  submit_to_claim_ms: { p50: number; p99: number };
  mothership_cpu_cores: number[];
  mothership_rss_mb: number[];
  postgres_cpu_cores: number;
  simulator_cpu_cores: number;
  machine_busy_cores: number;
  load_average_mean: number;
}

export const runnersAtScale: Figure = {
  figure: 9,
  name: 'runners',
  async run() {
    const runners = scaled(20_000, 100);
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'node_modules/tsx/dist/cli.mjs'),
        join(ROOT, 'bench/simulated-runners.ts'),
        '--runners',
        String(runners),
        '--duration',
        String(WINDOW_S),
        '--heartbeat',
        String(HEARTBEAT_S),
        '--wait',
        '30',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (process.env.BENCH_DEBUG) process.stdout.write(chunk);
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`simulated-runners exited ${code}: ${output.slice(-500)}`);
    const result = JSON.parse(
      await readFile(join(RESULTS_DIR, `simulated-runners-${runners}x1.json`), 'utf8'),
    ) as SimulationResult;
    const notLate =
      result.runners_marked_offline_max === 0 &&
      result.heartbeat_errors === 0 &&
      result.max_gap_between_heartbeats_s <= HEARTBEAT_S + 5;
    return {
      figure: 9,
      name: 'runners',
      title: `runners at scale (${runners.toLocaleString('en')} simulated solders)`,
      borg:
        `mothership ${result.mothership_cpu_cores[0]} cores, ${result.mothership_rss_mb[0]} MB RSS; heartbeat p50 ${result.heartbeat_ms.p50} ms, ` +
        `p99 ${result.heartbeat_ms.p99} ms, longest gap ${result.max_gap_between_heartbeats_s} s, ${result.heartbeat_errors} failed, ` +
        `${result.runners_marked_offline_max} marked offline; long-polls ${result.long_polls_answered} answered, ` +
        `${result.long_polls_shed} shed (503 + Retry-After), ${result.long_poll_errors} failed; ` +
        `${result.jobs_claimed}/${result.jobs_submitted} jobs claimed`,
      reference: '—',
      ratio: '—',
      goal: 'CPU and RSS reported; heartbeats not late, none wrongly offline (long-polls may be shed)',
      met: notLate,
      scale: `${runners} runners, heartbeat and long-poll 30 s, ${WINDOW_S} s window after a 60 s start; PostgreSQL ${result.postgres_cpu_cores} cores, simulator ${result.simulator_cpu_cores} cores`,
      details: { ...result },
    };
  },
};
