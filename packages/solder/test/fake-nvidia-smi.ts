import { chmod, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** The four GPUs the fake reports: one model, each with a different amount of free memory. */
export const FAKE_GPUS = [
  { index: 0, uuid: 'GPU-00000000-1111-2222-3333-000000000000', free: 80_000, utilization: 0 },
  { index: 1, uuid: 'GPU-00000000-1111-2222-3333-000000000001', free: 40_000, utilization: 25 },
  { index: 2, uuid: 'GPU-00000000-1111-2222-3333-000000000002', free: 20_000, utilization: 50 },
  { index: 3, uuid: 'GPU-00000000-1111-2222-3333-000000000003', free: 1_000, utilization: 100 },
].map((gpu) => ({ ...gpu, name: 'NVIDIA A100-SXM4-80GB', total: 81_920 }));

export const FAKE_DRIVER = '550.54.15';

export interface FakeNvidiaSmi {
  /** The script's path; it is named `nvidia-smi`, so its directory can go first on PATH. */
  path: string;
  /** Every call's arguments, in order. */
  calls(): Promise<string[]>;
  /** `begin` and `end` of every sample call, in order: two begins in a row mean two at once. */
  sampleEvents(): Promise<string[]>;
}

export interface FakeNvidiaSmiOptions {
  /** Each sample call takes this long (seconds); detection answers at once. */
  sampleSeconds?: number;
}

/**
 * A stand-in for nvidia-smi (a POSIX sh script, so the real spawn, exit status and output paths
 * run) with four GPUs. It answers exactly the two questions the solder asks, detection
 * (`--query-gpu=index,uuid,name,…`) and a sample of some GPUs (`--query-gpu=index,utilization.gpu,…
 * --id=<i,j>`), in nvidia-smi's csv,noheader,nounits form, and fails with exit 2 on anything else.
 */
export async function writeFakeNvidiaSmi(dir: string, options: FakeNvidiaSmiOptions = {}): Promise<FakeNvidiaSmi> {
  const file = path.join(dir, 'nvidia-smi');
  const callLog = path.join(dir, 'nvidia-smi.calls');
  const sampleLog = path.join(dir, 'nvidia-smi.samples');
  await writeFile(callLog, '');
  await writeFile(sampleLog, '');
  const detectLines = FAKE_GPUS.map(
    (gpu) => `${gpu.index}, ${gpu.uuid}, ${gpu.name}, ${gpu.total}, ${gpu.free}, ${FAKE_DRIVER}`,
  );
  const sampleCases = FAKE_GPUS.map(
    (gpu) => `      ${gpu.index}) echo "${gpu.index}, ${gpu.utilization}, ${gpu.total - gpu.free}, ${gpu.free}" ;;`,
  );
  const script = [
    '#!/bin/sh',
    `echo "$*" >> '${callLog}'`,
    'case "$1 $2" in',
    "'--query-gpu=index,uuid,name,memory.total,memory.free,driver_version --format=csv,noheader,nounits')",
    `  [ $# -eq 2 ] || { echo "unexpected arguments: $*" >&2; exit 2; }`,
    ...detectLines.map((line) => `  echo '${line}'`),
    '  ;;',
    "'--query-gpu=index,utilization.gpu,memory.used,memory.free --format=csv,noheader,nounits')",
    `  case "$3" in --id=*) ;; *) echo "unexpected arguments: $*" >&2; exit 2 ;; esac`,
    `  echo begin >> '${sampleLog}'`,
    options.sampleSeconds ? `  sleep ${options.sampleSeconds}` : '  :',
    `  for id in $(echo "\${3#--id=}" | tr ',' ' '); do`,
    '    case "$id" in',
    ...sampleCases,
    `      *) echo "No devices were found" ; echo end >> '${sampleLog}' ; exit 6 ;;`,
    '    esac',
    '  done',
    `  echo end >> '${sampleLog}'`,
    '  ;;',
    `*) echo "unexpected arguments: $*" >&2; exit 2 ;;`,
    'esac',
    '',
  ].join('\n');
  await writeFile(file, script);
  await chmod(file, 0o755);
  const lines = async (log: string) => (await readFile(log, 'utf8')).split('\n').filter((line) => line !== '');
  return { path: file, calls: () => lines(callLog), sampleEvents: () => lines(sampleLog) };
}
