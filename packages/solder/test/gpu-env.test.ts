import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { containerGpuArgs, gpuFlagSyntaxOf, processGpuEnv } from '../src/executors/gpu-env.ts';
import {
  BinaryExecutor,
  ContainerExecutor,
  type ExecutionSpec,
  type OutputSink,
  ShellExecutor,
} from '../src/executors/index.ts';

const GPU_1 = { index: 1, uuid: 'GPU-00000000-1111-2222-3333-000000000001' };
const GPU_3 = { index: 3, uuid: 'GPU-00000000-1111-2222-3333-000000000003' };
/** What a job might set to reach every GPU of the machine. */
const ESCAPE = { CUDA_VISIBLE_DEVICES: '0,1,2,3', NVIDIA_VISIBLE_DEVICES: 'all', CUDA_DEVICE_ORDER: 'FASTEST_FIRST' };

let workDir: string;
beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'borg-gpu-env-'));
});
afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

function spec(command: string | string[], extra: Partial<ExecutionSpec> = {}): ExecutionSpec {
  const type = typeof command === 'string' ? 'shell' : 'binary';
  return { taskId: 'task-1', jobId: 'job-1', type, command, image: null, env: {}, workDir, ...extra };
}

/** Runs a task to its end and returns what it printed. */
async function output(executor: ShellExecutor | BinaryExecutor, taskSpec: ExecutionSpec): Promise<string> {
  const out: Buffer[] = [];
  const sink: OutputSink = { stdout: (chunk) => out.push(chunk), stderr: () => undefined };
  const task = await executor.start(taskSpec, sink);
  expect((await task.exited).exitCode).toBe(0);
  return Buffer.concat(out).toString();
}

const PRINT_GPU_ENV =
  'echo "cuda=${CUDA_VISIBLE_DEVICES-unset} nvidia=${NVIDIA_VISIBLE_DEVICES-unset} order=${CUDA_DEVICE_ORDER-unset}"';

describe('the GPUs a shell or binary task sees', () => {
  const shell = new ShellExecutor({ baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });

  it('are exactly those assigned: CUDA by index (PCI bus order), NVIDIA by UUID', async () => {
    const printed = await output(shell, spec(PRINT_GPU_ENV, { gpus: [GPU_1, GPU_3], gpuMachine: true }));
    expect(printed).toBe(`cuda=1,3 nvidia=${GPU_1.uuid},${GPU_3.uuid} order=PCI_BUS_ID\n`);
  });

  it('are none on a GPU machine when none were assigned', async () => {
    const printed = await output(shell, spec(PRINT_GPU_ENV, { gpus: [], gpuMachine: true }));
    expect(printed).toBe('cuda= nvidia=void order=unset\n');
  });

  it('are left alone on a machine without GPUs', async () => {
    const printed = await output(shell, spec(PRINT_GPU_ENV, { gpus: [], gpuMachine: false }));
    expect(printed).toBe('cuda=unset nvidia=unset order=unset\n');
  });

  it("cannot be widened by the job's env or secrets", async () => {
    const assigned = await output(
      shell,
      spec(PRINT_GPU_ENV, { env: ESCAPE, secrets: { NVIDIA_VISIBLE_DEVICES: 'all' }, gpus: [GPU_3], gpuMachine: true }),
    );
    expect(assigned).toBe(`cuda=3 nvidia=${GPU_3.uuid} order=PCI_BUS_ID\n`);
    const none = await output(shell, spec(PRINT_GPU_ENV, { env: ESCAPE, gpus: [], gpuMachine: true }));
    expect(none).toMatch(/^cuda= nvidia=void /);
  });

  it('are the same for a binary task', async () => {
    const binary = new BinaryExecutor({ baseEnv: {} });
    const argv = [
      process.execPath,
      '-e',
      'console.log(process.env.CUDA_VISIBLE_DEVICES, process.env.NVIDIA_VISIBLE_DEVICES)',
    ];
    const printed = await output(binary, spec(argv, { env: ESCAPE, gpus: [GPU_1], gpuMachine: true }));
    expect(printed).toBe(`1 ${GPU_1.uuid}\n`);
    const none = await output(binary, spec(argv, { env: ESCAPE, gpus: [], gpuMachine: true }));
    expect(none).toBe(' void\n');
  });

  it('are named by index where the UUID is unknown or not a UUID', () => {
    const env = processGpuEnv({
      gpus: [
        { index: 0, uuid: '' },
        { index: 2, uuid: 'GPU-x,all' },
      ],
      gpuMachine: true,
    });
    expect(env).toMatchObject({ CUDA_VISIBLE_DEVICES: '0,2', NVIDIA_VISIBLE_DEVICES: '0,2' });
  });
});

describe('the GPUs a container task is given', () => {
  const envFileDir = '/run/borg-test-env';

  function containerRun(cli: string, extra: Partial<ExecutionSpec>) {
    const executor = new ContainerExecutor({ cli, solderId: 'solder-1', cliEnv: {}, envFileDir });
    return executor.runArguments({
      ...spec(['nvidia-smi', '-L'], { type: 'container', image: 'docker.io/nvidia/cuda:12.4.1-base-ubuntu22.04' }),
      ...extra,
    });
  }

  /** The container's argv up to the image: the CLI's own flags. */
  function cliFlags(run: { args: string[] }): string[] {
    return run.args.slice(0, run.args.indexOf('docker.io/nvidia/cuda:12.4.1-base-ubuntu22.04'));
  }

  it('are CDI devices, one per GPU, under podman', () => {
    const run = containerRun('podman', { gpus: [GPU_1, GPU_3], gpuMachine: true });
    expect(cliFlags(run).filter((arg) => /device|gpus/.test(arg))).toEqual([
      '--device=nvidia.com/gpu=1',
      '--device=nvidia.com/gpu=3',
    ]);
    expect(run.envFile?.content).toContain(`NVIDIA_VISIBLE_DEVICES=${GPU_1.uuid},${GPU_3.uuid}\n`);
  });

  it("are docker's --gpus with a quoted device list, so the comma stays inside one CSV field", () => {
    const run = containerRun('/usr/bin/docker', { gpus: [GPU_1, GPU_3], gpuMachine: true });
    expect(cliFlags(run).filter((arg) => /device|gpus/.test(arg))).toEqual(['--gpus="device=1,3"']);
  });

  it('are none, with no device flag, when none were assigned; the runtime hook is told void', () => {
    for (const cli of ['podman', 'docker']) {
      const run = containerRun(cli, { gpus: [], gpuMachine: true, env: ESCAPE });
      expect(cliFlags(run).filter((arg) => /device|gpus/.test(arg))).toEqual([]);
      expect(run.envFile?.content).toContain('NVIDIA_VISIBLE_DEVICES=void\n');
      expect(run.envFile?.content).not.toContain('NVIDIA_VISIBLE_DEVICES=all');
    }
  });

  it('leave a container on a machine without GPUs as it was', () => {
    const run = containerRun('podman', { gpus: [], gpuMachine: false });
    expect(cliFlags(run).filter((arg) => /device|gpus/.test(arg))).toEqual([]);
    expect(run.envFile).toBeUndefined();
  });

  it("cannot be widened by the job's env or a secret of the same name", () => {
    const run = containerRun('podman', {
      gpus: [GPU_3],
      gpuMachine: true,
      env: ESCAPE,
      secrets: { NVIDIA_VISIBLE_DEVICES: 'all' },
    });
    const lines = run.envFile!.content.split('\n');
    expect(lines.filter((line) => line.startsWith('NVIDIA_VISIBLE_DEVICES='))).toEqual([
      `NVIDIA_VISIBLE_DEVICES=${GPU_3.uuid}`,
    ]);
    // Inside the container the devices are numbered from 0: the task's own CUDA_VISIBLE_DEVICES stays its own.
    expect(lines).toContain('CUDA_VISIBLE_DEVICES=0,1,2,3');
  });

  it('pick the flag syntax from the CLI: podman (any path, podman-remote) or else docker', () => {
    expect(gpuFlagSyntaxOf('podman')).toBe('podman');
    expect(gpuFlagSyntaxOf('/usr/local/bin/podman-remote')).toBe('podman');
    expect(gpuFlagSyntaxOf('docker')).toBe('docker');
    expect(gpuFlagSyntaxOf('/opt/bin/nerdctl')).toBe('docker');
    expect(containerGpuArgs('docker', [GPU_1])).toEqual(['--gpus="device=1"']);
    expect(containerGpuArgs('podman', [])).toEqual([]);
  });
});
