import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { finishedJob, type InProcessSolder, startSolder } from '../../../test/test-solder.ts';
import { claimableJobTypes, detectContainerRuntime } from '../src/container-runtime.ts';

let bin: string;

/** A fake container CLI on PATH: `works` exits 0 to `info`, else it says why it cannot and exits 1. */
async function fakeCli(name: string, works: boolean): Promise<void> {
  const body = works ? 'exit 0' : 'echo "Cannot connect to the daemon" >&2; exit 1';
  await writeFile(join(bin, name), `#!/bin/sh\n${body}\n`);
  await chmod(join(bin, name), 0o755);
}

/** PATH holds only the fake CLIs (run by /bin/sh), so the machine's own docker and podman are not found. */
function onlyFakesOnPath(): Record<string, string> {
  return { PATH: bin };
}

beforeAll(async () => {
  bin = await mkdtemp(join(tmpdir(), 'borg-fake-cli-'));
});
afterAll(async () => {
  await rm(bin, { recursive: true, force: true });
});
afterEach(async () => {
  await rm(join(bin, 'docker'), { force: true });
  await rm(join(bin, 'podman'), { force: true });
  vi.unstubAllEnvs();
});

describe('container runtime detection', () => {
  it('takes docker when it works, before podman', async () => {
    await fakeCli('docker', true);
    await fakeCli('podman', true);
    const runtime = await detectContainerRuntime(undefined, { env: onlyFakesOnPath() });
    expect(runtime).toMatchObject({ cli: 'docker', kind: 'docker', warning: undefined });
  });

  it('falls back to podman when docker has no daemon', async () => {
    await fakeCli('docker', false);
    await fakeCli('podman', true);
    const runtime = await detectContainerRuntime(undefined, { env: onlyFakesOnPath() });
    expect(runtime).toMatchObject({ cli: 'podman', kind: 'podman', warning: undefined });
  });

  it('finds none when neither works, and says why', async () => {
    await fakeCli('docker', false);
    const runtime = await detectContainerRuntime(undefined, { env: onlyFakesOnPath() });
    expect(runtime.cli).toBeUndefined();
    expect(runtime.warning).toContain('docker: Cannot connect to the daemon');
    expect(runtime.warning).toContain('podman: not found');
    expect(runtime.warning).toContain('takes no container jobs');
  });

  it('warns about a configured CLI that does not work, naming it', async () => {
    await fakeCli('podman', false);
    const runtime = await detectContainerRuntime(join(bin, 'podman'), { env: onlyFakesOnPath() });
    expect(runtime.cli).toBeUndefined();
    expect(runtime.warning).toMatch(/the container CLI .*podman \(--container-cli\) does not work/);
  });

  it('gives up on a CLI that does not answer in time', async () => {
    await writeFile(join(bin, 'docker'), '#!/bin/sh\nexec /bin/sleep 30\n');
    await chmod(join(bin, 'docker'), 0o755);
    const runtime = await detectContainerRuntime('docker', { env: onlyFakesOnPath(), timeoutMs: 300 });
    expect(runtime.warning).toContain('no answer to "docker info" within 300 ms');
  });

  it('claims every type but container without a runtime', () => {
    expect(claimableJobTypes(undefined, true)).toBeUndefined();
    expect(claimableJobTypes(undefined, false)).toEqual(['shell', 'binary']);
    expect(claimableJobTypes(['container', 'shell'], false)).toEqual(['shell']);
    expect(claimableJobTypes(['container'], true)).toEqual(['container']);
  });
});

describe('a solder with no working container CLI, against a real mothership', () => {
  const borg = useTestMothership();
  let solder: InProcessSolder | undefined;

  afterEach(async () => {
    await solder?.stop({ cancelRunning: true });
    solder = undefined;
  });

  it('has no container label, runs shell jobs and leaves container jobs queued', async () => {
    await fakeCli('docker', false);
    vi.stubEnv('PATH', onlyFakesOnPath().PATH);
    const logs: string[] = [];
    solder = await startSolder(borg(), {}, { log: (message) => logs.push(message) });
    expect(logs.join('\n')).toContain('no working container CLI');
    const runner = await borg().admin.getRunner(solder.agent.id);
    expect(runner.labels.container).toBeUndefined();
    // It tells the mothership the types it takes, so a waiting container job says why.
    expect(runner.job_types).toEqual(['shell', 'binary']);

    const container = await borg().admin.createJob({
      name: 'boxed',
      type: 'container',
      image: 'alpine',
      command: 'true',
    });
    const shell = await borg().admin.createJob({ name: 'plain', type: 'shell', command: 'true' });
    expect((await finishedJob(borg(), shell.id)).status).toBe('succeeded');
    expect((await borg().admin.getJob(container.id)).tasks[0]!.status).toBe('pending');
    const placement = await borg().admin.getJobPlacement(container.id);
    expect(placement.summary).toBe('no online runner takes container jobs');
    expect(placement.runners.find((r) => r.runner_id === solder!.agent.id)?.reasons).toEqual([
      'takes no container jobs (only shell, binary)',
    ]);
  });

  it('labels the runner container=podman when podman works', async () => {
    await fakeCli('docker', false);
    await fakeCli('podman', true);
    vi.stubEnv('PATH', onlyFakesOnPath().PATH);
    solder = await startSolder(borg());
    const runner = await borg().admin.getRunner(solder.agent.id);
    expect(runner.labels.container).toBe('podman');
    expect(runner.job_types).toBeNull();
  });

  it('refuses to start when --job-types names only container jobs and no CLI works', async () => {
    vi.stubEnv('PATH', onlyFakesOnPath().PATH);
    await expect(startSolder(borg(), { jobTypes: 'container' })).rejects.toThrow(/--job-types names only container/);
  });
});
