import type { GpuDevice } from '@borg/protocol';

/** What registration tells about a runner that its attributes are made of. */
export interface AttributeSources {
  hostname: string;
  os: string;
  arch: string;
  labels: Record<string, string>;
  resources: Record<string, unknown>;
  capacity: { cpu: number; memory_mb: number; gpus: GpuDevice[] } | null;
}

/**
 * What constraint expressions read: the automatic attributes (cpu_count, memory_gb, gpu_count,
 * gpu_model, os, arch, hostname) under the runner's labels, so a label the operator set wins.
 * An attribute detection does not know is left out, so `gpu_model exists` means a GPU is there.
 * memory_gb is the machine's total memory in GiB, rounded.
 */
export function runnerAttributes(source: AttributeSources): Record<string, string> {
  const detected = source.resources as {
    cpu?: { cores?: unknown };
    memory?: { total_bytes?: unknown };
    gpus?: Array<{ name?: unknown }>;
  };
  const attributes: Record<string, string> = {};
  const set = (key: string, value: unknown) => {
    if (typeof value === 'number' && Number.isFinite(value)) attributes[key] = String(value);
    else if (typeof value === 'string' && value !== '') attributes[key] = value;
  };
  set('hostname', source.hostname);
  set('os', source.os);
  set('arch', source.arch);
  set('cpu_count', source.capacity?.cpu ?? detected.cpu?.cores);
  const totalBytes = detected.memory?.total_bytes;
  if (typeof totalBytes === 'number') set('memory_gb', Math.round(totalBytes / 2 ** 30));
  else if (source.capacity) set('memory_gb', Math.round(source.capacity.memory_mb / 1024));
  const gpus = source.capacity?.gpus ?? (Array.isArray(detected.gpus) ? detected.gpus : []);
  set('gpu_count', gpus.length);
  const firstGpu = gpus[0] as { model?: unknown; name?: unknown } | undefined;
  set('gpu_model', firstGpu?.model || firstGpu?.name);
  return { ...attributes, ...source.labels };
}
