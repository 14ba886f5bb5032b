import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { RunnerCapacity } from '@borg/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { offeredCapacity } from '../src/capacity.ts';
import { loadSolderConfig, type SolderConfig } from '../src/config.ts';
import { automaticLabels, type DetectedResources, detectResources } from '../src/resources.ts';
import { FAKE_DRIVER, FAKE_GPUS, type FakeNvidiaSmi, writeFakeNvidiaSmi } from './fake-nvidia-smi.ts';

const GIB = 1024 * 1024 * 1024;

let dir: string;
let nvidiaSmi: FakeNvidiaSmi;
let detected: DetectedResources;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'borg-gpu-capacity-'));
  nvidiaSmi = await writeFakeNvidiaSmi(dir);
  detected = await detectResources(dir, { nvidiaSmi: nvidiaSmi.path });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function config(flags: Record<string, unknown> = {}, env: Record<string, string> = {}): Promise<SolderConfig> {
  return loadSolderConfig({ mothership: 'http://127.0.0.1:1', ...flags }, env, undefined);
}

/** A machine with 16 cores, 64 GiB and the fake's four GPUs. */
function machine(): Pick<DetectedResources, 'cpu' | 'memory' | 'gpus'> {
  return {
    cpu: { model: 'test', cores: 16 },
    memory: { total_bytes: 64 * GIB, free_bytes: 60 * GIB },
    gpus: detected.gpus,
  };
}

describe('GPU detection through nvidia-smi', () => {
  it('reads index, UUID, model, memory and driver of every GPU', async () => {
    expect(detected.warnings).toEqual([]);
    expect(detected.gpus).toEqual(
      FAKE_GPUS.map((gpu) => ({
        index: gpu.index,
        uuid: gpu.uuid,
        name: gpu.name,
        memory_total_mib: gpu.total,
        memory_free_mib: gpu.free,
        driver: FAKE_DRIVER,
      })),
    );
    expect(await nvidiaSmi.calls()).toContain(
      '--query-gpu=index,uuid,name,memory.total,memory.free,driver_version --format=csv,noheader,nounits',
    );
  });

  it('leaves the automatic labels as they were: gpu=true and nothing more', () => {
    expect(automaticLabels(detected)).toEqual({ os: process.platform, arch: process.arch, gpu: 'true' });
  });
});

describe('the capacity a runner offers', () => {
  it('is what detection found by default: every core, all memory, every GPU', async () => {
    const { capacity, missingGpus } = offeredCapacity(machine(), await config());
    expect(capacity).toEqual({
      cpu: 16,
      memory_mb: 64 * 1024,
      gpus: FAKE_GPUS.map((gpu) => ({
        index: gpu.index,
        uuid: gpu.uuid,
        model: gpu.name,
        memory_mb: gpu.total,
        memory_free_mb: gpu.free,
      })),
    });
    expect(missingGpus).toEqual([]);
    expect(RunnerCapacity.safeParse(capacity).success).toBe(true);
  });

  it('keeps --reserve-memory MB of the detected total back', async () => {
    const { capacity } = offeredCapacity(machine(), await config({ reserveMemory: '2048' }));
    expect(capacity.memory_mb).toBe(64 * 1024 - 2048);
    const { capacity: tiny } = offeredCapacity(machine(), await config({ reserveMemory: 1_000_000 }));
    expect(tiny.memory_mb).toBe(0);
  });

  it('offers what --cpu and --memory say instead of what was detected', async () => {
    const { capacity } = offeredCapacity(machine(), await config({ cpu: '6.5', memory: '8192', reserveMemory: 1024 }));
    expect(capacity).toMatchObject({ cpu: 6.5, memory_mb: 8192 });
  });

  it('offers only the GPUs --gpus selects, by index', async () => {
    const { capacity } = offeredCapacity(machine(), await config({ gpus: '3, 1' }));
    expect(capacity.gpus.map((gpu) => [gpu.index, gpu.uuid])).toEqual([
      [1, FAKE_GPUS[1]!.uuid],
      [3, FAKE_GPUS[3]!.uuid],
    ]);
  });

  it('offers no GPU with --gpus none', async () => {
    expect(offeredCapacity(machine(), await config({ gpus: 'none' })).capacity.gpus).toEqual([]);
  });

  it('never offers a GPU that detection did not find, and says which', async () => {
    const { capacity, missingGpus } = offeredCapacity(machine(), await config({ gpus: '0,7' }));
    expect(capacity.gpus.map((gpu) => gpu.index)).toEqual([0]);
    expect(missingGpus).toEqual([7]);
  });

  it('offers no GPU on a machine without one', async () => {
    const { capacity } = offeredCapacity({ ...machine(), gpus: [] }, await config());
    expect(capacity.gpus).toEqual([]);
  });
});

describe('the resource settings', () => {
  it('come from BORG_CPU, BORG_MEMORY, BORG_RESERVE_MEMORY and BORG_GPUS, flags winning', async () => {
    const fromEnv = await config(
      {},
      { BORG_CPU: '4', BORG_MEMORY: '4096', BORG_RESERVE_MEMORY: '512', BORG_GPUS: '2,0,2' },
    );
    expect(fromEnv).toMatchObject({ cpu: 4, memory: 4096, reserveMemory: 512, gpus: [0, 2] });
    const flagsWin = await config({ gpus: 'none', cpu: '2' }, { BORG_GPUS: '1', BORG_CPU: '4' });
    expect(flagsWin).toMatchObject({ cpu: 2, gpus: [] });
  });

  it('default to detection: no --cpu, --memory or --gpus, nothing reserved', async () => {
    const defaults = await config();
    expect(defaults.cpu).toBeUndefined();
    expect(defaults.memory).toBeUndefined();
    expect(defaults.gpus).toBeUndefined();
    expect(defaults.reserveMemory).toBe(0);
  });

  it('take an array of indices or "none" in the config file', async () => {
    expect((await config({ gpus: [1, 0] })).gpus).toEqual([0, 1]);
  });

  it('refuse what they cannot read, naming the variable and the flag', async () => {
    await expect(config({ gpus: 'all' })).rejects.toThrow(/BORG_GPUS \(--gpus\): GPUs are nvidia-smi indices/);
    await expect(config({ gpus: '0,-1' })).rejects.toThrow(/BORG_GPUS \(--gpus\)/);
    await expect(config({ cpu: 'lots' })).rejects.toThrow(/BORG_CPU \(--cpu\)/);
    await expect(config({ memory: '1.5' })).rejects.toThrow(/BORG_MEMORY \(--memory\)/);
    await expect(config({ reserveMemory: '-1' })).rejects.toThrow(/BORG_RESERVE_MEMORY \(--reserve-memory\)/);
  });
});
