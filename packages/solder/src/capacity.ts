import type { GpuDevice, RunnerCapacity } from '@borg/protocol';

import type { SolderConfig } from './config.ts';
import type { DetectedResources } from './resources.ts';

const MIB = 1024 * 1024;

export interface OfferedCapacity {
  capacity: RunnerCapacity & { gpus: GpuDevice[] };
  /** GPUs that --gpus names and detection did not find: they are not offered. */
  missingGpus: number[];
}

/**
 * What this runner offers to tasks that ask for resources, sent at every registration:
 * - cpu: --cpu, else the detected core count;
 * - memory_mb: --memory, else the detected total (MiB) less --reserve-memory, never below 0;
 * - gpus: the detected GPUs that --gpus selects (all of them without it, none with `none`), each
 *   with its total memory and the memory free when it was detected.
 *   Only a detected GPU is offered: a GPU that --gpus names but nvidia-smi does not report (its
 *   driver lost it, or a typo) is left out and named in `missingGpus`, so no task is ever given
 *   a device that is not there.
 */
export function offeredCapacity(
  detected: Pick<DetectedResources, 'cpu' | 'memory' | 'gpus'>,
  config: Pick<SolderConfig, 'cpu' | 'memory' | 'reserveMemory' | 'gpus'>,
): OfferedCapacity {
  const totalMb = Math.floor(detected.memory.total_bytes / MIB);
  const selected = config.gpus ?? detected.gpus.map((gpu) => gpu.index);
  const gpus = detected.gpus
    .filter((gpu) => selected.includes(gpu.index))
    .sort((a, b) => a.index - b.index)
    .map((gpu) => ({
      index: gpu.index,
      uuid: gpu.uuid,
      model: gpu.name,
      memory_mb: gpu.memory_total_mib === null ? null : Math.round(gpu.memory_total_mib),
      memory_free_mb: gpu.memory_free_mib === null ? null : Math.round(gpu.memory_free_mib),
    }));
  const found = new Set(gpus.map((gpu) => gpu.index));
  return {
    capacity: {
      cpu: config.cpu ?? detected.cpu.cores,
      memory_mb: config.memory ?? Math.max(0, totalMb - config.reserveMemory),
      gpus,
    },
    missingGpus: selected.filter((index) => !found.has(index)),
  };
}
