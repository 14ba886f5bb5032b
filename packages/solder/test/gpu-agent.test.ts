import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { Agent } from '../src/agent.ts';
import { loadSolderConfig, type SolderConfig } from '../src/config.ts';
import { FakeMothership } from './fake-mothership.ts';
import { FAKE_GPUS, type FakeNvidiaSmi, writeFakeNvidiaSmi } from './fake-nvidia-smi.ts';

const SAMPLE_QUESTION = '--query-gpu=index,utilization.gpu,memory.used,memory.free --format=csv,noheader,nounits';

/**
 * A solder on a machine with four GPUs (a fake nvidia-smi) against the scripted mothership: what
 * it offers at registration, what GPUs its tasks see, and the samples its heartbeats carry.
 */
describe('a solder on a GPU machine', () => {
  let fake: FakeMothership;
  let dir: string;
  let nvidiaSmi: FakeNvidiaSmi;
  let agents: Agent[];

  beforeEach(async () => {
    fake = await FakeMothership.start({ heartbeatIntervalSeconds: 1 });
    dir = await mkdtemp(join(tmpdir(), 'borg-gpu-agent-'));
    await chmod(dir, 0o777); // tasks write here too, and under a root solder they run as another user
    nvidiaSmi = await writeFakeNvidiaSmi(dir);
    agents = [];
  });
  afterEach(async () => {
    await Promise.all(agents.map((agent) => agent.stop({ cancelRunning: true }).catch(() => undefined)));
    await fake.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function startAgent(settings: Partial<Record<keyof SolderConfig, unknown>> = {}): Promise<Agent> {
    const config = await loadSolderConfig(
      {
        mothership: fake.url,
        registrationToken: fake.registrationToken,
        stateDir: join(dir, `solder-${agents.length}`),
        maxConcurrentTasks: 2,
        longPollSeconds: 1,
        cancelGracePeriod: 1,
        ...settings,
      },
      {},
    );
    const agent = new Agent(config, { log: () => undefined, nvidiaSmi: nvidiaSmi.path, gpuSampleIntervalMs: 50 });
    agents.push(agent);
    await agent.start();
    return agent;
  }

  async function finished(taskId: string): Promise<void> {
    await expect.poll(() => fake.statusesOf(taskId).at(-1), { timeout: 20_000 }).toBe('succeeded');
  }

  const printed = (taskId: string) => fake.linesOf(taskId).map((line) => line.message);

  it('registers its capacity: cores and memory as flagged, the GPUs --gpus selects', async () => {
    await startAgent({ cpu: 12, memory: 65_536, gpus: '0,2,3' });
    const registration = fake.lastRegistration()!;
    expect(registration.capacity).toEqual({
      cpu: 12,
      memory_mb: 65_536,
      gpus: [0, 2, 3].map((i) => ({
        index: i,
        uuid: FAKE_GPUS[i]!.uuid,
        model: FAKE_GPUS[i]!.name,
        memory_mb: FAKE_GPUS[i]!.total,
        memory_free_mb: FAKE_GPUS[i]!.free,
      })),
    });
    expect(registration.labels).toMatchObject({ gpu: 'true' });
  });

  it("gives a task exactly its assigned GPUs and a task without any none, whatever the job's env says", async () => {
    await startAgent();
    const command = 'echo "cuda=[$CUDA_VISIBLE_DEVICES] nvidia=[$NVIDIA_VISIBLE_DEVICES]"';
    const env = { CUDA_VISIBLE_DEVICES: '0,1,2,3', NVIDIA_VISIBLE_DEVICES: 'all' };
    const withGpus = fake.submit({ command, env, gpus: [FAKE_GPUS[1]!, FAKE_GPUS[2]!].map(assigned) });
    const without = fake.submit({ command, env });
    await finished(withGpus.id);
    await finished(without.id);
    expect(printed(withGpus.id)).toContain(`cuda=[1,2] nvidia=[${FAKE_GPUS[1]!.uuid},${FAKE_GPUS[2]!.uuid}]`);
    expect(printed(without.id)).toContain('cuda=[] nvidia=[void]');
  });

  it('samples the GPUs a task holds while it runs and sends the samples with its heartbeats', async () => {
    await startAgent();
    const release = join(dir, 'release');
    const task = fake.submit({
      command: `while [ ! -e '${release}' ]; do sleep 0.05; done`,
      gpus: [FAKE_GPUS[1]!, FAKE_GPUS[3]!].map(assigned),
    });
    const sampled = () => fake.gpuSamples().filter((sample) => sample.utilization_pct !== null);
    await expect.poll(() => new Set(sampled().map((s) => s.index)).size, { timeout: 10_000 }).toBe(2);
    expect(sampled().every((sample) => sample.index === 1 || sample.index === 3)).toBe(true);
    expect(sampled().find((sample) => sample.index === 3)).toMatchObject({
      utilization_pct: FAKE_GPUS[3]!.utilization,
      memory_free_mb: FAKE_GPUS[3]!.free,
    });
    const heartbeat = fake.requestsTo('heartbeat').find((r) => (r.body as { gpus?: unknown[] }).gpus !== undefined);
    expect(heartbeat?.body).toMatchObject({ task_ids: [task.id] });
    expect((await nvidiaSmi.calls()).filter((call) => call.startsWith('--query-gpu=index,utilization'))).toContain(
      `${SAMPLE_QUESTION} --id=1,3`,
    );

    await writeFile(release, '');
    await finished(task.id);
    // No task holds a GPU: after one last sample of the freed GPUs the sampler stops, and the
    // heartbeats after that carry no samples of it (a periodic reading's free memory aside).
    const sampleCalls = async () => (await nvidiaSmi.calls()).filter((call) => call.startsWith(SAMPLE_QUESTION));
    const beatsWhenDone = fake.requestsTo('heartbeat').length;
    await expect
      .poll(() => fake.requestsTo('heartbeat').length, { timeout: 10_000 })
      .toBeGreaterThan(beatsWhenDone + 2);
    const samplesBefore = (await sampleCalls()).length;
    const beatsBefore = fake.requestsTo('heartbeat').length;
    await expect.poll(() => fake.requestsTo('heartbeat').length, { timeout: 10_000 }).toBeGreaterThan(beatsBefore);
    const lastBeat = fake.requestsTo('heartbeat').at(-1)!.body as { gpus?: Array<{ utilization_pct: unknown }> };
    expect((lastBeat.gpus ?? []).filter((sample) => sample.utilization_pct !== null)).toEqual([]);
    expect(await sampleCalls()).toHaveLength(samplesBefore);
  });

  it("offers no GPU with --gpus none, and still hides the machine's GPUs from its tasks", async () => {
    await startAgent({ gpus: 'none' });
    expect(fake.lastRegistration()!.capacity?.gpus).toEqual([]);
    const task = fake.submit({ command: 'echo "cuda=[$CUDA_VISIBLE_DEVICES]"' });
    await finished(task.id);
    expect(printed(task.id)).toContain('cuda=[]');
  });
});

function assigned(gpu: { index: number; uuid: string }): { index: number; uuid: string } {
  return { index: gpu.index, uuid: gpu.uuid };
}
