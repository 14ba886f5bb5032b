import path from 'node:path';

import type { AssignedGpu } from '@borg/protocol';

import type { ExecutionSpec } from './executor.ts';

/** What NVIDIA's container runtime and hooks read as "no GPU" in NVIDIA_VISIBLE_DEVICES. */
const NO_GPU = 'void';

/** A GPU or MIG UUID as nvidia-smi prints it; anything else (a comma would add a device) is not used. */
const DEVICE_UUID = /^[A-Za-z0-9][A-Za-z0-9/_.-]*$/;

/**
 * The GPU variables of a shell or binary task, to be applied over everything else in its env:
 * - GPUs assigned: CUDA_VISIBLE_DEVICES lists their nvidia-smi indices, CUDA_DEVICE_ORDER is
 *   PCI_BUS_ID (CUDA's default order, fastest first, numbers devices differently from nvidia-smi
 *   on a machine with mixed models), NVIDIA_VISIBLE_DEVICES lists their UUIDs (the index where
 *   the UUID is unknown or malformed);
 * - none assigned on a machine with GPUs: CUDA_VISIBLE_DEVICES is empty and NVIDIA_VISIBLE_DEVICES
 *   `void`, so the task sees no GPU rather than all of them;
 * - none assigned on a machine without GPUs: nothing.
 */
export function processGpuEnv(spec: Pick<ExecutionSpec, 'gpus' | 'gpuMachine'>): Record<string, string> {
  const assigned = spec.gpus ?? [];
  if (assigned.length === 0) return spec.gpuMachine ? { CUDA_VISIBLE_DEVICES: '', NVIDIA_VISIBLE_DEVICES: NO_GPU } : {};
  return {
    CUDA_VISIBLE_DEVICES: assigned.map((gpu) => String(gpu.index)).join(','),
    CUDA_DEVICE_ORDER: 'PCI_BUS_ID',
    NVIDIA_VISIBLE_DEVICES: nvidiaDeviceList(assigned),
  };
}

/**
 * The GPU variable of a container task, over its own env. The devices themselves come from the
 * CLI's flag (containerGpuArgs); NVIDIA_VISIBLE_DEVICES is set too because NVIDIA's legacy runtime
 * hook reads it from the container's env, and would otherwise give every GPU to an image (or a
 * job) that sets it to `all`. CUDA_VISIBLE_DEVICES is left to the task: inside the container its
 * devices are numbered from 0, and it sees no others.
 */
export function containerGpuEnv(spec: Pick<ExecutionSpec, 'gpus' | 'gpuMachine'>): Record<string, string> {
  const assigned = spec.gpus ?? [];
  if (assigned.length === 0) return spec.gpuMachine ? { NVIDIA_VISIBLE_DEVICES: NO_GPU } : {};
  return { NVIDIA_VISIBLE_DEVICES: nvidiaDeviceList(assigned) };
}

/** How a container CLI is told which GPUs to give: docker's `--gpus`, or podman's CDI devices. */
export type GpuFlagSyntax = 'docker' | 'podman';

/** podman (podman-remote, a path to either) takes CDI devices; anything else is taken for docker. */
export function gpuFlagSyntaxOf(cli: string): GpuFlagSyntax {
  return /podman/i.test(path.basename(cli)) ? 'podman' : 'docker';
}

/**
 * The `run` flags that give a container exactly its assigned GPUs, and none without any:
 * - podman: `--device=nvidia.com/gpu=<index>` for each (CDI names from `nvidia-ctk cdi generate`);
 * - docker: `--gpus="device=<i>,<j>"`; the quotes are part of the value, because docker reads it
 *   as one CSV record and a bare comma would start a new field.
 */
export function containerGpuArgs(syntax: GpuFlagSyntax, assigned: readonly AssignedGpu[]): string[] {
  if (assigned.length === 0) return [];
  for (const gpu of assigned) {
    if (!Number.isSafeInteger(gpu.index) || gpu.index < 0) throw new Error(`GPU index ${gpu.index} is not valid`);
  }
  if (syntax === 'podman') return assigned.map((gpu) => `--device=nvidia.com/gpu=${gpu.index}`);
  return [`--gpus="device=${assigned.map((gpu) => gpu.index).join(',')}"`];
}

function nvidiaDeviceList(assigned: readonly AssignedGpu[]): string {
  return assigned.map((gpu) => (DEVICE_UUID.test(gpu.uuid) ? gpu.uuid : String(gpu.index))).join(',');
}
