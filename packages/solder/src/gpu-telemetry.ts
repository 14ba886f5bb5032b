import { execFile } from 'node:child_process';

import type { GpuSample } from '@borg/protocol';

import { type GpuInfo, notAvailable } from './resources.ts';

export interface GpuTelemetryOptions {
  /** The nvidia-smi binary (a name on PATH or a path); default 'nvidia-smi'. */
  nvidiaSmi?: string;
  /** Between two samples while a task holds GPUs; default 5000. */
  intervalMs?: number;
  /** One nvidia-smi call may take this long, then it is killed; default 5000. */
  timeoutMs?: number;
  /** Samples kept for the next heartbeat; beyond it the oldest go. Default 512, at most 1024 (a heartbeat's limit). */
  maxBuffered?: number;
  log: (message: string, fields?: Record<string, unknown>) => void;
}

const DEFAULT_INTERVAL_MS = 5_000;
const DEFAULT_TIMEOUT_MS = 5_000;
const DEFAULT_MAX_BUFFERED = 512;
const HEARTBEAT_MAX_SAMPLES = 1024;
/** nvidia-smi's answer for up to 64 GPUs is a few KiB; anything longer is not its answer. */
const MAX_OUTPUT_BYTES = 64 * 1024;

/**
 * Samples the GPUs that tasks hold (utilisation, memory used and free), every `intervalMs` while
 * any task holds one, and keeps the samples for the next heartbeat. Bounded on every side: one
 * nvidia-smi call at a time, each killed after `timeoutMs`, its output capped, and at most
 * `maxBuffered` samples kept (the newest) while heartbeats do not get through. Nothing runs while
 * no task holds a GPU. A failing nvidia-smi costs a log line (once until it works again), never
 * a heartbeat.
 */
export class GpuTelemetry {
  /** Task id → the GPU indices it holds. */
  private readonly held = new Map<string, readonly number[]>();
  private buffered: GpuSample[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** GPUs a task released since the last sample: each is sampled once more, free of the task. */
  private readonly released = new Set<number>();
  /** True from the first hold until the sample after the last release: a sample is in flight or scheduled. */
  private active = false;
  /** The nvidia-smi call under way, if any (stop waits for it). */
  private call: Promise<GpuSample[]> | undefined;
  private stopped = false;
  private lastFailure: string | undefined;
  private readonly nvidiaSmi: string;
  private readonly intervalMs: number;
  private readonly timeoutMs: number;
  private readonly maxBuffered: number;

  constructor(private readonly options: GpuTelemetryOptions) {
    this.nvidiaSmi = options.nvidiaSmi ?? 'nvidia-smi';
    this.intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.maxBuffered = Math.min(options.maxBuffered ?? DEFAULT_MAX_BUFFERED, HEARTBEAT_MAX_SAMPLES);
  }

  /** True while a sample is under way or scheduled: a task holds a GPU, or one was just released. */
  get sampling(): boolean {
    return this.active;
  }

  /** The GPU indices some task holds now, in order. */
  get heldIndices(): number[] {
    return [...new Set([...this.held.values()].flat())].sort((a, b) => a - b);
  }

  /** A task holds these GPUs until `release`; the first sample is taken at once if none is under way. */
  hold(taskId: string, indices: readonly number[]): void {
    if (indices.length === 0 || this.stopped) return;
    this.held.set(taskId, indices);
    if (!this.active) {
      this.active = true;
      void this.sampleThenWait();
    }
  }

  /**
   * The task no longer holds its GPUs. Those no other task holds are sampled once more, now (or
   * right after the sample under way), so the mothership learns their memory is free again.
   */
  release(taskId: string): void {
    const indices = this.held.get(taskId);
    this.held.delete(taskId);
    if (!indices || this.stopped) return;
    const stillHeld = new Set(this.heldIndices);
    for (const index of indices) if (!stillHeld.has(index)) this.released.add(index);
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      void this.sampleThenWait();
    }
  }

  /**
   * Keeps what a reading of the machine found of the offered GPUs that no task holds (their free
   * memory), so the mothership's view of an idle GPU does not stay as its last task left it.
   */
  recordReading(gpus: readonly GpuInfo[], offered: readonly number[]): void {
    const held = new Set(this.heldIndices);
    const idle = offered.filter((index) => !held.has(index));
    this.record(detectedGpuSamples(gpus, idle, new Date().toISOString()));
  }

  /** Keeps samples for the next heartbeat (the sampler's own, or a reading's), the newest last. */
  record(samples: readonly GpuSample[]): void {
    this.buffered.push(...samples);
    if (this.buffered.length > this.maxBuffered) this.buffered.splice(0, this.buffered.length - this.maxBuffered);
  }

  /** Everything kept since the last take, oldest first; the caller gives them back if it could not send them. */
  take(): GpuSample[] {
    const samples = this.buffered;
    this.buffered = [];
    return samples;
  }

  /** Samples a heartbeat could not deliver go back in front of those taken since, within the bound. */
  giveBack(samples: readonly GpuSample[]): void {
    this.buffered = [...samples, ...this.buffered];
    if (this.buffered.length > this.maxBuffered) this.buffered.splice(0, this.buffered.length - this.maxBuffered);
  }

  /** No more samples, ever (the solder is done); resolves once a sample under way has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.held.clear();
    this.released.clear();
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.call?.catch(() => undefined);
  }

  private async sampleThenWait(): Promise<void> {
    const indices = [...new Set([...this.heldIndices, ...this.released])].sort((a, b) => a - b);
    this.released.clear();
    if (indices.length > 0) {
      try {
        this.call = this.sample(indices);
        this.record(await this.call);
        if (this.lastFailure !== undefined) this.options.log('GPU sampling works again');
        this.lastFailure = undefined;
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (message !== this.lastFailure) this.options.log('GPU sampling failed', { err: message });
        this.lastFailure = message;
      }
    }
    // A release during the sample is sampled at once; otherwise the next sample is due while a task holds a GPU.
    if (this.stopped || (this.held.size === 0 && this.released.size === 0)) {
      this.active = false;
      return;
    }
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        void this.sampleThenWait();
      },
      this.released.size > 0 ? 0 : this.intervalMs,
    );
    // A timer left behind must never keep the process alive.
    this.timer.unref();
  }

  private sample(indices: number[]): Promise<GpuSample[]> {
    const args = [...NVIDIA_SMI_SAMPLE_ARGS, `--id=${indices.join(',')}`];
    return new Promise((resolve, reject) => {
      execFile(
        this.nvidiaSmi,
        args,
        { timeout: this.timeoutMs, killSignal: 'SIGKILL', maxBuffer: MAX_OUTPUT_BYTES },
        (error, stdout, stderr) => {
          if (error) {
            if ((error as NodeJS.ErrnoException).code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
              return reject(new Error(`${this.nvidiaSmi} answered more than ${MAX_OUTPUT_BYTES} bytes`));
            }
            if (error.killed) return reject(new Error(`${this.nvidiaSmi} did not answer within ${this.timeoutMs} ms`));
            const said = String(stderr).trim() || String(stdout).trim();
            return reject(new Error(`${this.nvidiaSmi} failed${said ? `: ${said.slice(0, 300)}` : ''}`));
          }
          try {
            const wanted = new Set(indices);
            const at = new Date().toISOString();
            resolve(parseGpuSamples(String(stdout), at).filter((sample) => wanted.has(sample.index)));
          } catch (parseError) {
            reject(parseError instanceof Error ? parseError : new Error(String(parseError)));
          }
        },
      );
    });
  }
}

/** The question each sample asks nvidia-smi (with `--id=<i,j>`); parseGpuSamples reads its answer. */
export const NVIDIA_SMI_SAMPLE_ARGS = [
  '--query-gpu=index,utilization.gpu,memory.used,memory.free',
  '--format=csv,noheader,nounits',
] as const;

/**
 * Parses the answer to NVIDIA_SMI_SAMPLE_ARGS, one GPU a line, every sample taken `at`. A value
 * nvidia-smi cannot give ("[N/A]") or one outside its range is null, so one odd device never makes
 * a heartbeat invalid; a line that is not this answer at all throws.
 */
export function parseGpuSamples(text: string, at: string): GpuSample[] {
  const samples: GpuSample[] = [];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '') continue;
    const fields = line.split(',').map((field) => field.trim());
    const [index, utilization, used, free] = fields;
    if (fields.length !== 4 || !/^\d{1,4}$/.test(index!)) {
      throw new Error(`unexpected nvidia-smi sample line: ${JSON.stringify(line.slice(0, 200))}`);
    }
    samples.push({
      index: Number(index),
      utilization_pct: measure(utilization!, line, 100),
      memory_used_mb: measure(used!, line),
      memory_free_mb: measure(free!, line),
      at,
    });
  }
  return samples;
}

/** What a reading of the machine found of these GPUs, as samples: free memory only (no utilisation in that reading). */
export function detectedGpuSamples(gpus: readonly GpuInfo[], offered: readonly number[], at: string): GpuSample[] {
  return gpus
    .filter((gpu) => offered.includes(gpu.index) && gpu.memory_free_mib !== null)
    .map((gpu) => ({
      index: gpu.index,
      utilization_pct: null,
      memory_used_mb: null,
      memory_free_mb: gpu.memory_free_mib,
      at,
    }));
}

function measure(field: string, line: string, max = Number.POSITIVE_INFINITY): number | null {
  if (notAvailable(field)) return null;
  const value = Number(field);
  if (field === '' || Number.isNaN(value)) {
    throw new Error(`unexpected value ${JSON.stringify(field)} in nvidia-smi sample line ${JSON.stringify(line)}`);
  }
  return Number.isFinite(value) && value >= 0 && value <= max ? value : null;
}
