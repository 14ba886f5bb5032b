/**
 * Figure 6, file transfer: a SIZE file uploaded through the API (the raw body of `PUT /files`,
 * the client's `putFile`, as `borg files upload` sends it), then downloaded (streamed to disk),
 * against `cp` of the same file on the same disk. Memory: the growth of the mothership's RSS (sampled every 50 ms) and of this
 * client's, over their values before the transfer.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, openAsBlob } from 'node:fs';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';

import { createBenchDatabase } from '../lib/bench-database.ts';
import { type Figure, scaled } from '../lib/figure.ts';
import { startMothershipProcess } from '../lib/mothership-process.ts';
import { memoryOf } from '../lib/proc.ts';
import { median, round } from '../lib/stats.ts';

const ROUNDS = 2;
const MIB = 1024 * 1024;

async function writeTestFile(path: string, bytes: number): Promise<void> {
  const chunk = randomBytes(MIB);
  const file = await open(path, 'w');
  for (let written = 0; written < bytes; written += MIB) await file.write(chunk, 0, Math.min(MIB, bytes - written));
  await file.close();
}

/** Peak RSS growth (MB) of a process and of this one while fn runs. */
async function watchMemory<T>(
  pid: number,
  fn: () => Promise<T>,
): Promise<{ value: T; serverMb: number; clientMb: number }> {
  const serverBase = (await memoryOf(pid)).rssMb;
  const clientBase = process.memoryUsage.rss() / MIB;
  let serverPeak = serverBase;
  let clientPeak = clientBase;
  const sampler = setInterval(() => {
    clientPeak = Math.max(clientPeak, process.memoryUsage.rss() / MIB);
    void memoryOf(pid).then((m) => (serverPeak = Math.max(serverPeak, m.rssMb)));
  }, 50);
  try {
    const value = await fn();
    return { value, serverMb: serverPeak - serverBase, clientMb: clientPeak - clientBase };
  } finally {
    clearInterval(sampler);
  }
}

export const fileTransfer: Figure = {
  figure: 6,
  name: 'files',
  async run() {
    const bytes = scaled(1024, 16) * MIB;
    const dir = await mkdtemp(join(tmpdir(), 'borg-bench-files-'));
    const source = join(dir, 'source.bin');
    await writeTestFile(source, bytes);
    const database = await createBenchDatabase('files');
    const mothership = await startMothershipProcess({ databaseUrl: database.url });
    const upload: number[] = [];
    const download: number[] = [];
    const copy: number[] = [];
    let serverMb = 0;
    let clientMb = 0;
    try {
      for (let r = 0; r < ROUNDS; r++) {
        let started = performance.now();
        const up = await watchMemory(mothership.pid, async () =>
          mothership.admin.putFile(await openAsBlob(source), 'source.bin'),
        );
        upload.push((performance.now() - started) / 1000);
        if (up.value.size !== bytes) throw new Error(`uploaded ${up.value.size} bytes of ${bytes}`);

        const target = join(dir, `download-${r}.bin`);
        started = performance.now();
        const down = await watchMemory(mothership.pid, async () => {
          const response = await mothership.admin.downloadFile(up.value.id);
          await pipeline(Readable.fromWeb(response.body as WebReadableStream), createWriteStream(target));
        });
        download.push((performance.now() - started) / 1000);
        if ((await stat(target)).size !== bytes) throw new Error('the download is not the size of the upload');
        await rm(target);
        serverMb = Math.max(serverMb, up.serverMb, down.serverMb);
        clientMb = Math.max(clientMb, up.clientMb, down.clientMb);

        const copyTarget = join(dir, `copy-${r}.bin`);
        started = performance.now();
        await new Promise<void>((resolve, reject) =>
          spawn('cp', [source, copyTarget], { stdio: 'ignore' }).once('exit', (code) =>
            code === 0 ? resolve() : reject(new Error(`cp exited ${code}`)),
          ),
        );
        copy.push((performance.now() - started) / 1000);
        await rm(copyTarget);
      }
    } finally {
      await mothership.stop();
      await database.drop();
      await rm(dir, { recursive: true, force: true });
    }
    const mbps = (seconds: number) => bytes / MIB / seconds;
    const [u, d, c] = [median(upload), median(download), median(copy)];
    const upRatio = c / u;
    const downRatio = c / d;
    return {
      figure: 6,
      name: 'files',
      title: 'file transfer',
      borg: `upload ${round(mbps(u))} MB/s, download ${round(mbps(d))} MB/s; RSS growth mothership ${round(serverMb)} MB, client ${round(clientMb)} MB`,
      reference: `cp: ${round(mbps(c))} MB/s`,
      ratio: `upload ${upRatio.toFixed(2)}×, download ${downRatio.toFixed(2)}× cp`,
      goal: '≥ 0.7× cp each way, RSS growth ≤ 64 MB on both sides',
      met: upRatio >= 0.7 && downRatio >= 0.7 && serverMb <= 64 && clientMb <= 64,
      scale: `${bytes / MIB} MiB, ${ROUNDS} rounds (median)`,
      details: {
        bytes,
        upload_s: upload.map((x) => round(x)),
        download_s: download.map((x) => round(x)),
        cp_s: copy.map((x) => round(x)),
        mothership_rss_growth_mb: round(serverMb),
        client_rss_growth_mb: round(clientMb),
      },
    };
  },
};
