import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { automaticLabels, detectResources, parseNvidiaSmiCsv } from '../src/resources.ts';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'borg-resources-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A stand-in nvidia-smi: a shell script, so the real spawn, exit code and output paths run. */
async function fakeNvidiaSmi(name: string, body: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
  return file;
}

function onPath(binary: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('detectResources on this machine', () => {
  it('reports plausible values', async () => {
    const resources = await detectResources(dir);
    expect(resources.hostname).not.toBe('');
    expect(resources.os).toBe(process.platform);
    expect(resources.arch).toBe(process.arch);
    expect(resources.cpu.cores).toBeGreaterThanOrEqual(1);
    expect(resources.cpu.model).not.toBe('');
    expect(resources.memory.total_bytes).toBeGreaterThan(0);
    expect(resources.memory.free_bytes).toBeGreaterThan(0);
    expect(resources.memory.free_bytes).toBeLessThanOrEqual(resources.memory.total_bytes);
    expect(resources.disk.work_dir_free_bytes).toBeGreaterThan(0);
    for (const address of resources.ip_addresses) {
      expect(address).not.toMatch(/^(127\.|::1$|fe80:)/);
    }
    // Only a machine without nvidia-smi is sure to have no GPUs to report.
    if (!onPath('nvidia-smi')) expect(resources.gpus).toEqual([]);
    expect(resources.warnings).toEqual([]);
  });

  it('measures the disk of a work directory that does not exist yet', async () => {
    const resources = await detectResources(path.join(dir, 'not', 'yet', 'made'));
    expect(resources.disk.work_dir_free_bytes).toBeGreaterThan(0);
  });

  it('treats a missing nvidia-smi as "no GPUs", not as a problem', async () => {
    const resources = await detectResources(dir, { nvidiaSmi: path.join(dir, 'no-such-nvidia-smi') });
    expect(resources.gpus).toEqual([]);
    expect(resources.warnings).toEqual([]);
    expect(automaticLabels(resources)).toEqual({ os: process.platform, arch: process.arch, gpu: 'false' });
  });
});

describe('GPUs through nvidia-smi', () => {
  const h200 = { name: 'NVIDIA H200', memory_total_mib: 143771, driver: '570.124.06' };

  it('reads two GPUs from a fake nvidia-smi asked the right question', async () => {
    // The fake answers only the exact query the solder is meant to send.
    const nvidiaSmi = await fakeNvidiaSmi(
      'nvidia-smi-two',
      [
        'if [ "$*" != "--query-gpu=index,uuid,name,memory.total,memory.free,driver_version --format=csv,noheader,nounits" ]; then',
        '  echo "unexpected arguments: $*" >&2; exit 2',
        'fi',
        "printf '0, GPU-aaaa, NVIDIA H200, 143771, 143000, 570.124.06\\n1, GPU-bbbb, NVIDIA H200, 143771, 1024, 570.124.06\\n'",
      ].join('\n'),
    );
    const resources = await detectResources(dir, { nvidiaSmi });
    expect(resources.warnings).toEqual([]);
    expect(resources.gpus).toEqual([
      { ...h200, index: 0, uuid: 'GPU-aaaa', memory_free_mib: 143000 },
      { ...h200, index: 1, uuid: 'GPU-bbbb', memory_free_mib: 1024 },
    ]);
    expect(automaticLabels(resources)).toEqual({ os: process.platform, arch: process.arch, gpu: 'true' });
  });

  it('turns a failing nvidia-smi into a warning and no GPUs', async () => {
    const nvidiaSmi = await fakeNvidiaSmi(
      'nvidia-smi-broken',
      'echo "NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver." >&2; exit 9',
    );
    const resources = await detectResources(dir, { nvidiaSmi });
    expect(resources.gpus).toEqual([]);
    expect(resources.warnings).toHaveLength(1);
    expect(resources.warnings[0]).toMatch(/^gpus: .*exit 9.*couldn't communicate with the NVIDIA driver/);
    // The other probes are not held back by the failed one.
    expect(resources.cpu.cores).toBeGreaterThanOrEqual(1);
  });

  it('gives up on an nvidia-smi that hangs, with a warning', async () => {
    // exec, so the kill reaches the sleeping process itself.
    const nvidiaSmi = await fakeNvidiaSmi('nvidia-smi-hung', 'exec sleep 60');
    const resources = await detectResources(dir, { nvidiaSmi, probeTimeoutMs: 300 });
    expect(resources.gpus).toEqual([]);
    expect(resources.warnings.some((w) => w.startsWith('gpus: ') && /within 300 ms/.test(w))).toBe(true);
  });

  it('turns output it cannot read into a warning', async () => {
    const nvidiaSmi = await fakeNvidiaSmi('nvidia-smi-odd', "echo 'something else entirely'");
    const resources = await detectResources(dir, { nvidiaSmi });
    expect(resources.gpus).toEqual([]);
    expect(resources.warnings).toEqual([expect.stringMatching(/^gpus: unexpected nvidia-smi line/)]);
  });
});

describe('parseNvidiaSmiCsv', () => {
  it('keeps unknown memory as null, an unknown UUID as empty, and ignores blank lines', () => {
    const text =
      '0, GPU-aaaa, NVIDIA H200, 143771, 143000, 570.124.06\r\n\n3, [N/A], GRID A100D-4C, [N/A], [Not Supported], 535.54.03\n';
    expect(parseNvidiaSmiCsv(text)).toEqual([
      {
        index: 0,
        uuid: 'GPU-aaaa',
        name: 'NVIDIA H200',
        memory_total_mib: 143771,
        memory_free_mib: 143000,
        driver: '570.124.06',
      },
      { index: 3, uuid: '', name: 'GRID A100D-4C', memory_total_mib: null, memory_free_mib: null, driver: '535.54.03' },
    ]);
  });

  it('keeps a comma in the name, reading the other fields from both ends', () => {
    const [gpu] = parseNvidiaSmiCsv('2, GPU-cccc, Tesla V100-SXM2-16GB, rev 2, 16160, 16000, 535.54.03');
    expect(gpu).toMatchObject({
      index: 2,
      uuid: 'GPU-cccc',
      name: 'Tesla V100-SXM2-16GB, rev 2',
      memory_free_mib: 16000,
    });
  });

  it('refuses an index that is not a number', () => {
    expect(() => parseNvidiaSmiCsv('first, GPU-a, NVIDIA H200, 1, 1, 570.124.06')).toThrow(
      /unexpected GPU index "first"/,
    );
  });

  it('reads nothing from nothing', () => {
    expect(parseNvidiaSmiCsv('')).toEqual([]);
  });

  it('refuses a memory field that is not a number', () => {
    expect(() => parseNvidiaSmiCsv('0, GPU-a, NVIDIA H200, lots, 1, 570.124.06')).toThrow(
      /unexpected memory size "lots"/,
    );
  });
});
