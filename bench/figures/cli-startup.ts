/**
 * Figure 10, CLI start-up: the wall time of `borg --version` and of `borg jobs list` against a
 * local mothership, beside a bare `node -e 0` in the same run (the floor any Node program pays),
 * and the size of the solder bundle that `install.sh` downloads. Each command runs RUNS times
 * after WARMUP runs (which fill Node's compile cache where there is one); medians are reported.
 */
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';

import type { Figure } from '../lib/figure.ts';
import { BORG_BIN, ROOT, startMothershipProcess } from '../lib/mothership-process.ts';
import { median, round, wallMs } from '../lib/stats.ts';

const WARMUP = 3;
const RUNS = 15;

/** Milliseconds from spawn to exit; a non-zero exit fails the figure. */
function timed(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = wallMs();
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve(wallMs() - started);
      else reject(new Error(`node ${args.join(' ')} exited ${code}: ${stderr}`));
    });
  });
}

async function medianMs(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  for (let i = 0; i < WARMUP; i++) await timed(args, env);
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) samples.push(await timed(args, env));
  return median(samples);
}

export const cliStartup: Figure = {
  figure: 10,
  name: 'cli-startup',
  async run() {
    const mothership = await startMothershipProcess();
    let bare: number;
    let version: number;
    let list: number;
    try {
      await mothership.admin.createJob({ name: 'listed', command: 'true' });
      const env = { ...process.env, BORG_ADDR: mothership.url, BORG_TOKEN: mothership.adminToken };
      bare = await medianMs(['-e', '0']);
      version = await medianMs([BORG_BIN, '--version']);
      list = await medianMs([BORG_BIN, 'jobs', 'list'], env);
    } finally {
      await mothership.stop();
    }
    const bundleBytes = (await stat(join(ROOT, 'dist/node/borg-solder.mjs'))).size;
    const worst = Math.max(version, list) / bare;
    return {
      figure: 10,
      name: 'cli-startup',
      title: 'CLI start-up',
      borg: `borg --version ${round(version, 0)} ms, borg jobs list ${round(list, 0)} ms; solder bundle ${round(bundleBytes / 1e6, 2)} MB`,
      reference: `node -e 0: ${round(bare, 0)} ms`,
      ratio: `${(version / bare).toFixed(2)}× / ${(list / bare).toFixed(2)}×`,
      goal: '≤ 2× node -e 0',
      met: worst <= 2,
      scale: `median of ${RUNS} runs after ${WARMUP} warm-up runs, Node ${process.versions.node}`,
      details: {
        node_e_0_ms: round(bare, 1),
        version_ms: round(version, 1),
        jobs_list_ms: round(list, 1),
        solder_bundle_bytes: bundleBytes,
      },
    };
  },
};
