import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { GpuSample } from '@borg/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { detectedGpuSamples, GpuTelemetry, type GpuTelemetryOptions, parseGpuSamples } from '../src/gpu-telemetry.ts';
import { detectResources } from '../src/resources.ts';
import { FAKE_GPUS, writeFakeNvidiaSmi } from './fake-nvidia-smi.ts';

const AT = '2026-12-01T10:00:00.000Z';
/** Long enough for a loaded CI machine to start a few shell scripts. */
const WAIT = { timeout: 10_000 };
const SAMPLE_QUESTION = '--query-gpu=index,utilization.gpu,memory.used,memory.free --format=csv,noheader,nounits';

let dir: string;
const telemetries: GpuTelemetry[] = [];
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'borg-gpu-telemetry-'));
});
afterEach(async () => {
  for (const telemetry of telemetries.splice(0)) await telemetry.stop();
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function telemetry(options: Omit<GpuTelemetryOptions, 'log'> & { logged?: string[] }): GpuTelemetry {
  const made = new GpuTelemetry({
    ...options,
    log: (message, fields) => options.logged?.push(`${message} ${JSON.stringify(fields ?? {})}`),
  });
  telemetries.push(made);
  return made;
}

async function freshDir(name: string): Promise<string> {
  const sub = path.join(dir, name);
  await mkdir(sub);
  return sub;
}

describe('parseGpuSamples', () => {
  it('reads index, utilisation, memory used and free of every line', () => {
    expect(parseGpuSamples('1, 25, 41920, 40000\n3, 100, 80920, 1000\n', AT)).toEqual([
      { index: 1, utilization_pct: 25, memory_used_mb: 41920, memory_free_mb: 40000, at: AT },
      { index: 3, utilization_pct: 100, memory_used_mb: 80920, memory_free_mb: 1000, at: AT },
    ]);
  });

  it('makes a value nvidia-smi cannot give, or one out of range, null: a heartbeat stays valid', () => {
    const samples = parseGpuSamples('0, [N/A], [Not Supported], 12\r\n\n1, 140, -3, 5\n', AT);
    expect(samples).toEqual([
      { index: 0, utilization_pct: null, memory_used_mb: null, memory_free_mb: 12, at: AT },
      { index: 1, utilization_pct: null, memory_used_mb: null, memory_free_mb: 5, at: AT },
    ]);
    for (const sample of samples) expect(GpuSample.safeParse(sample).success).toBe(true);
  });

  it('refuses a line that is not its answer', () => {
    expect(() => parseGpuSamples('No devices were found', AT)).toThrow(/unexpected nvidia-smi sample line/);
    expect(() => parseGpuSamples('0, busy, 1, 2', AT)).toThrow(/unexpected value "busy"/);
  });
});

describe('detectedGpuSamples', () => {
  it("turns detection's free memory of the offered GPUs into samples", async () => {
    const fake = await writeFakeNvidiaSmi(await freshDir('detected'));
    const { gpus } = await detectResources(dir, { nvidiaSmi: fake.path });
    expect(detectedGpuSamples(gpus, [0, 2], AT)).toEqual([
      { index: 0, utilization_pct: null, memory_used_mb: null, memory_free_mb: FAKE_GPUS[0]!.free, at: AT },
      { index: 2, utilization_pct: null, memory_used_mb: null, memory_free_mb: FAKE_GPUS[2]!.free, at: AT },
    ]);
  });
});

describe('GPU sampling', () => {
  it('samples the GPUs tasks hold, and only those, while they hold them', async () => {
    const fake = await writeFakeNvidiaSmi(await freshDir('held'));
    const gpus = telemetry({ nvidiaSmi: fake.path, intervalMs: 20 });
    expect(gpus.sampling).toBe(false);

    gpus.hold('task-a', [3]);
    gpus.hold('task-b', [1]);
    expect(gpus.heldIndices).toEqual([1, 3]);
    await expect
      .poll(async () => (await fake.calls()).filter((c) => c.endsWith('--id=1,3')).length, WAIT)
      .toBeGreaterThan(0);
    expect(
      (await fake.calls()).every(
        (call) => call === `${SAMPLE_QUESTION} --id=3` || call === `${SAMPLE_QUESTION} --id=1,3`,
      ),
    ).toBe(true);

    const collected: GpuSample[] = [];
    await expect
      .poll(() => {
        collected.push(...gpus.take());
        return new Set(collected.map((s) => s.index)).size;
      }, WAIT)
      .toBe(2);
    const three = collected.find((s) => s.index === 3)!;
    expect(three).toMatchObject({ utilization_pct: 100, memory_used_mb: 80_920, memory_free_mb: 1_000 });
    expect(Date.parse(three.at!)).not.toBeNaN();

    gpus.release('task-a');
    gpus.release('task-b');
    await expect.poll(() => gpus.sampling, WAIT).toBe(false);
    const callsWhenStopped = (await fake.calls()).length;
    gpus.take();
    // Nothing is scheduled any more: holding again is what starts the next sample.
    gpus.hold('task-c', [0]);
    await expect
      .poll(async () => (await fake.calls()).slice(callsWhenStopped), WAIT)
      .toContain(`${SAMPLE_QUESTION} --id=0`);
  });

  it('samples a released GPU once more, then stops', async () => {
    const fake = await writeFakeNvidiaSmi(await freshDir('released'), { sampleSeconds: 0.1 });
    const gpus = telemetry({ nvidiaSmi: fake.path, intervalMs: 60_000 });
    gpus.hold('task-a', [2]);
    await expect.poll(async () => (await fake.sampleEvents()).length, WAIT).toBe(2);
    expect(gpus.take().map((s) => s.index)).toEqual([2]);
    gpus.release('task-a');
    await expect.poll(() => gpus.sampling, WAIT).toBe(false);
    expect(await fake.calls()).toEqual([`${SAMPLE_QUESTION} --id=2`, `${SAMPLE_QUESTION} --id=2`]);
    expect(gpus.take().map((s) => [s.index, s.memory_free_mb])).toEqual([[2, FAKE_GPUS[2]!.free]]);
  });

  it('keeps what a reading found of the idle offered GPUs, not of those a task holds', () => {
    const gpus = telemetry({ nvidiaSmi: path.join(dir, 'no-such-nvidia-smi') });
    gpus.hold('task-a', [1]);
    const reading = FAKE_GPUS.map((gpu) => ({
      index: gpu.index,
      uuid: gpu.uuid,
      name: gpu.name,
      memory_total_mib: gpu.total,
      memory_free_mib: gpu.free,
      driver: 'x',
    }));
    gpus.recordReading(reading, [0, 1, 3]);
    expect(gpus.take().map((s) => [s.index, s.utilization_pct, s.memory_free_mb])).toEqual([
      [0, null, FAKE_GPUS[0]!.free],
      [3, null, FAKE_GPUS[3]!.free],
    ]);
  });

  it('never has two nvidia-smi calls under way at once', async () => {
    const fake = await writeFakeNvidiaSmi(await freshDir('slow'), { sampleSeconds: 0.2 });
    const gpus = telemetry({ nvidiaSmi: fake.path, intervalMs: 1 });
    gpus.hold('task-a', [0]);
    gpus.release('task-a');
    gpus.hold('task-b', [2]); // while the first call is still under way
    await expect.poll(async () => (await fake.sampleEvents()).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(6);
    const events = await fake.sampleEvents();
    events.forEach((event, i) => expect(event).toBe(i % 2 === 0 ? 'begin' : 'end'));
  });

  it('stops only once the nvidia-smi call under way has ended, so nothing runs after the solder is done', async () => {
    const fake = await writeFakeNvidiaSmi(await freshDir('stopping'), { sampleSeconds: 0.3 });
    const gpus = telemetry({ nvidiaSmi: fake.path, intervalMs: 60_000 });
    gpus.hold('task-a', [1]);
    await expect.poll(async () => await fake.sampleEvents(), WAIT).toEqual(['begin']);
    await gpus.stop();
    expect(await fake.sampleEvents()).toEqual(['begin', 'end']);
  });

  it('keeps at most maxBuffered samples, the newest', async () => {
    const fake = await writeFakeNvidiaSmi(await freshDir('bounded'));
    const gpus = telemetry({ nvidiaSmi: fake.path, intervalMs: 1, maxBuffered: 3 });
    gpus.record([{ index: 9, utilization_pct: 1, memory_used_mb: 1, memory_free_mb: 1, at: AT }]);
    gpus.hold('task-a', [0, 1]);
    await expect.poll(async () => (await fake.calls()).length, WAIT).toBeGreaterThanOrEqual(3);
    gpus.release('task-a');
    await expect.poll(() => gpus.sampling, WAIT).toBe(false);
    const kept = gpus.take();
    expect(kept).toHaveLength(3);
    expect(kept.map((s) => s.index)).not.toContain(9);
    expect(kept.at(-1)!.index).toBe(1);
    expect(gpus.take()).toEqual([]);
  });

  it('gives back samples a heartbeat could not send, in front, within the bound', () => {
    const gpus = telemetry({ maxBuffered: 3 });
    const sample = (index: number) => ({ index, utilization_pct: 0, memory_used_mb: 0, memory_free_mb: 0, at: AT });
    gpus.record([sample(0), sample(1)]);
    const taken = gpus.take();
    gpus.record([sample(2), sample(3)]);
    gpus.giveBack(taken);
    expect(gpus.take().map((s) => s.index)).toEqual([1, 2, 3]);
  });

  it('kills an nvidia-smi that hangs and says so once, then goes on sampling', async () => {
    const hung = path.join(await freshDir('hung'), 'nvidia-smi');
    await writeFile(hung, '#!/bin/sh\nexec sleep 60\n');
    await chmod(hung, 0o755);
    const logged: string[] = [];
    const gpus = telemetry({ nvidiaSmi: hung, intervalMs: 1, timeoutMs: 100, logged });
    gpus.hold('task-a', [0]);
    await expect.poll(() => logged.length, WAIT).toBeGreaterThan(0);
    expect(logged[0]).toMatch(/^GPU sampling failed .*did not answer within 100 ms/);
    expect(gpus.sampling).toBe(true);
    expect(gpus.take()).toEqual([]);
  });

  it('says once that nvidia-smi fails, however often it is asked', async () => {
    const failing = await freshDir('failing');
    const calls = path.join(failing, 'calls');
    await writeFile(calls, '');
    const broken = path.join(failing, 'nvidia-smi');
    await writeFile(broken, `#!/bin/sh\necho x >> '${calls}'\necho "Failed to initialize NVML" >&2\nexit 9\n`);
    await chmod(broken, 0o755);
    const logged: string[] = [];
    const gpus = telemetry({ nvidiaSmi: broken, intervalMs: 1, logged });
    gpus.hold('task-a', [0]);
    await expect.poll(async () => (await readFile(calls, 'utf8')).length, WAIT).toBeGreaterThanOrEqual(8);
    expect(logged).toEqual([expect.stringMatching(/^GPU sampling failed .*Failed to initialize NVML/)]);
  });
});
