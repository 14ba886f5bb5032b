import { execFile } from 'node:child_process';
import { statfs } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import * as si from 'systeminformation';

export interface GpuInfo {
  /** nvidia-smi's index: what CUDA_VISIBLE_DEVICES and `--id` name. */
  index: number;
  /** The device's UUID (GPU-…); '' when the driver does not say. */
  uuid: string;
  name: string;
  /** null when the driver answers "[N/A]" or "[Not Supported]" (some virtual GPUs do). */
  memory_total_mib: number | null;
  memory_free_mib: number | null;
  driver: string;
}

/**
 * What this machine offers, as sent in `resources` at registration. A type alias rather than an
 * interface so it is assignable to the protocol's free-form `Record<string, unknown>`.
 */
export type DetectedResources = {
  hostname: string;
  /** Node's names (`process.platform`): linux, darwin, win32, … */
  os: string;
  /** Node's names (`process.arch`): x64, arm64, … */
  arch: string;
  cpu: { model: string; cores: number };
  memory: { total_bytes: number; free_bytes: number };
  /** Non-internal addresses, IPv4 and IPv6 (link-local IPv6 left out: unreachable without a zone). */
  ip_addresses: string[];
  gpus: GpuInfo[];
  /** null when the work directory's file system could not be asked. */
  disk: { work_dir_free_bytes: number | null };
  /** Probes that failed or hung; their part of the answer is a fallback or empty. */
  warnings: string[];
};

export interface DetectOptions {
  /** The nvidia-smi binary (a name on PATH or a path); default 'nvidia-smi'. */
  nvidiaSmi?: string;
  /** Time bound of each probe, so one hung probe cannot hold up registration; default 5000. */
  probeTimeoutMs?: number;
}

const DEFAULT_PROBE_TIMEOUT_MS = 5_000;

export async function detectResources(workDir: string, options: DetectOptions = {}): Promise<DetectedResources> {
  const timeoutMs = options.probeTimeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const warnings: string[] = [];
  // Each probe degrades on its own: systeminformation's answers fall back to node:os, which
  // is coarser but cannot hang; GPUs and disk fall back to "none" and "unknown".
  const bounded = <T>(name: string, run: () => Promise<T>, fallback: () => T) =>
    withinTime(run(), timeoutMs, name).catch((error: unknown) => {
      warnings.push(`${name}: ${messageOf(error)}`);
      return fallback();
    });

  const [cpu, memory, ipAddresses, gpus, workDirFree] = await Promise.all([
    bounded('cpu', probeCpu, cpuFromNode),
    bounded('memory', probeMemory, () => ({ total_bytes: os.totalmem(), free_bytes: os.freemem() })),
    bounded('network', probeAddresses, addressesFromNode),
    bounded(
      'gpus',
      () => probeGpus(options.nvidiaSmi ?? 'nvidia-smi', timeoutMs),
      () => [],
    ),
    bounded(
      'disk',
      () => freeBytesAt(workDir),
      () => null,
    ),
  ]);

  return {
    hostname: os.hostname(),
    os: process.platform,
    arch: process.arch,
    cpu,
    memory,
    ip_addresses: ipAddresses,
    gpus,
    disk: { work_dir_free_bytes: workDirFree },
    warnings,
  };
}

/**
 * Labels every runner gets without configuration. Few and stable on purpose: they are what a
 * job most often has to insist on (a binary built for one os/arch; a CUDA job needing a GPU),
 * they use the same vocabulary as the `os` and `arch` fields of registration, and none of
 * them changes while the machine runs (free memory would make a label that lies a minute
 * later). Labels from the solder's configuration should be merged over these.
 */
export function automaticLabels(resources: Pick<DetectedResources, 'os' | 'arch' | 'gpus'>): Record<string, string> {
  return { os: resources.os, arch: resources.arch, gpu: resources.gpus.length > 0 ? 'true' : 'false' };
}

/** The question detection asks nvidia-smi; parseNvidiaSmiCsv reads its answer. */
export const NVIDIA_SMI_DETECT_ARGS = [
  '--query-gpu=index,uuid,name,memory.total,memory.free,driver_version',
  '--format=csv,noheader,nounits',
] as const;

/**
 * Parses the answer to NVIDIA_SMI_DETECT_ARGS, one GPU a line. Throws on a line it cannot read,
 * so a changed output format shows up as a warning instead of as GPUs with garbage fields.
 */
export function parseNvidiaSmiCsv(text: string): GpuInfo[] {
  const gpus: GpuInfo[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const fields = line.split(',').map((field) => field.trim());
    if (fields.length < 6) throw new Error(`unexpected nvidia-smi line: ${JSON.stringify(line.slice(0, 200))}`);
    // The name is the only field that could ever hold a comma, so the fields after it count from the end.
    const [index, uuid] = fields as [string, string];
    const [total, free, driver] = fields.slice(-3) as [string, string, string];
    if (!/^\d{1,4}$/.test(index)) {
      throw new Error(`unexpected GPU index ${JSON.stringify(index)} in nvidia-smi line ${JSON.stringify(line)}`);
    }
    gpus.push({
      index: Number(index),
      uuid: notAvailable(uuid) ? '' : uuid,
      name: fields.slice(2, -3).join(', '),
      memory_total_mib: mebibytes(total, line),
      memory_free_mib: mebibytes(free, line),
      driver,
    });
  }
  return gpus;
}

/** "[N/A]", "[Not Supported]", "[Unknown Error]": what nvidia-smi prints for a value it cannot give. */
export function notAvailable(field: string): boolean {
  return /^\[.*\]$/.test(field);
}

function mebibytes(field: string, line: string): number | null {
  if (notAvailable(field)) return null;
  const value = Number(field);
  if (field === '' || !Number.isFinite(value) || value < 0) {
    throw new Error(`unexpected memory size ${JSON.stringify(field)} in nvidia-smi line ${JSON.stringify(line)}`);
  }
  return value;
}

async function probeCpu(): Promise<DetectedResources['cpu']> {
  const cpu = await si.cpu();
  const model = [cpu.manufacturer, cpu.brand].filter((part) => part && part.trim() !== '').join(' ');
  return { model: model || cpuFromNode().model, cores: cpu.cores > 0 ? cpu.cores : os.availableParallelism() };
}

function cpuFromNode(): DetectedResources['cpu'] {
  return { model: os.cpus()[0]?.model ?? 'unknown', cores: os.availableParallelism() };
}

async function probeMemory(): Promise<DetectedResources['memory']> {
  const memory = await si.mem();
  // "available" counts page cache the kernel gives back at once; "free" does not, and would
  // make any machine that has been up a while look full.
  return { total_bytes: memory.total, free_bytes: memory.available || memory.free };
}

async function probeAddresses(): Promise<string[]> {
  const interfaces = await si.networkInterfaces();
  const list = Array.isArray(interfaces) ? interfaces : [interfaces];
  return usableAddresses(list.filter((iface) => !iface.internal).flatMap((iface) => [iface.ip4, iface.ip6]));
}

function addressesFromNode(): string[] {
  const all = Object.values(os.networkInterfaces()).flatMap((addresses) => addresses ?? []);
  return usableAddresses(all.filter((address) => !address.internal).map((address) => address.address));
}

function usableAddresses(addresses: string[]): string[] {
  const usable = addresses.filter((address) => address !== '' && !/^fe[89ab][0-9a-f]:/i.test(address));
  return [...new Set(usable)];
}

function probeGpus(binary: string, timeoutMs: number): Promise<GpuInfo[]> {
  return new Promise((resolve, reject) => {
    // execFile's own timeout kills a hung nvidia-smi, so no stray process is left behind.
    execFile(
      binary,
      NVIDIA_SMI_DETECT_ARGS,
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 1 << 20 },
      (error, stdout, stderr) => {
        if (error) {
          // No nvidia-smi at all is the normal state of a machine without NVIDIA GPUs.
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return resolve([]);
          if (error.killed) return reject(new Error(`${binary} did not answer within ${timeoutMs} ms`));
          const said = String(stderr).trim() || String(stdout).trim();
          return reject(
            new Error(`${binary} failed (exit ${String(error.code)})${said ? `: ${said.slice(0, 300)}` : ''}`),
          );
        }
        try {
          resolve(parseNvidiaSmiCsv(String(stdout)));
        } catch (parseError) {
          reject(parseError instanceof Error ? parseError : new Error(String(parseError)));
        }
      },
    );
  });
}

/** Free bytes for an unprivileged writer, asked of the nearest existing directory (the work dir may be created later). */
async function freeBytesAt(workDir: string): Promise<number> {
  let dir = path.resolve(workDir);
  for (;;) {
    try {
      const stats = await statfs(dir);
      return stats.bavail * stats.bsize;
    } catch (error) {
      const parent = path.dirname(dir);
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || parent === dir) throw error;
      dir = parent;
    }
  }
}

function withinTime<T>(promise: Promise<T>, ms: number, name: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${name} probe did not finish within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
