import { randomUUID } from 'node:crypto';

import { PROTOCOL_VERSION, type RegisterRunnerRequest } from '@borg/protocol';
import { describe, expect, it, vi } from 'vitest';

import { parsePrometheusText, sampleValue } from '../../../test/prometheus-text.ts';
import { type TestMothership, useTestMothership } from '../../../test/test-mothership.ts';

/**
 * Issue 14, the runner's life cycle: registration tokens that limit how many runners they let in
 * and which labels those carry, re-registration only by whoever registered the device, approval,
 * and deletion.
 */

function registration(labels: Record<string, string> = {}, deviceId = `device-${randomUUID()}`): RegisterRunnerRequest {
  return { device_id: deviceId, name: deviceId, os: 'linux', arch: 'x64', labels };
}

async function registrationToken(
  borg: TestMothership,
  limits: { max_uses?: number; allowed_labels?: Record<string, string | string[]> },
) {
  return borg.admin.createToken({ name: `reg ${randomUUID()}`, kind: 'registration', ...limits });
}

describe('registration tokens', () => {
  const borg = useTestMothership();

  it('register at most max_uses new runners; the devices they registered may come back', async () => {
    const token = await registrationToken(borg(), { max_uses: 2 });
    expect(token).toMatchObject({ kind: 'registration', max_uses: 2, uses: 0, allowed_labels: null });
    const client = borg().client(token.token);
    const first = registration();
    await client.register(first);
    await client.register(registration());
    await expect(client.register(registration())).rejects.toMatchObject({
      status: 403,
      code: 'FORBIDDEN',
      message: expect.stringContaining('max_uses'),
    });
    // Registering a device it registered already is the same runner, not another use.
    await expect(client.register(first)).resolves.toMatchObject({ runner: { device_id: first.device_id } });
    const listed = (await borg().admin.listTokens()).items.find((t) => t.id === token.id);
    expect(listed).toMatchObject({ uses: 2, max_uses: 2 });
  });

  it('limited to pool=cpu cannot register a runner with pool=gpu, gpu=true or a label it does not name', async () => {
    const token = await registrationToken(borg(), { allowed_labels: { pool: 'cpu', zone: ['a', 'b'], team: '*' } });
    const client = borg().client(token.token);
    // os, arch and gpu=false are facts every solder reports; the token need not name them.
    await expect(
      client.register(registration({ pool: 'cpu', zone: 'b', team: 'render', os: 'linux', arch: 'x64', gpu: 'false' })),
    ).resolves.toMatchObject({ runner: { labels: { pool: 'cpu' } } });
    const refused: Array<Record<string, string>> = [
      { pool: 'gpu' },
      { pool: 'cpu', gpu: 'true' },
      { pool: 'cpu', zone: 'c' },
      { pool: 'cpu', tier: 'x' },
    ];
    for (const labels of refused) {
      await expect(client.register(registration(labels)), JSON.stringify(labels)).rejects.toMatchObject({
        status: 403,
        message: expect.stringContaining('does not allow the labels'),
      });
    }
    // A refused registration spends no use and leaves no runner behind.
    const listed = (await borg().admin.listTokens()).items.find((t) => t.id === token.id);
    expect(listed?.uses).toBe(1);
  });

  it('bind their runners for good: the runner token cannot add labels beyond them either', async () => {
    const token = await registrationToken(borg(), { allowed_labels: { pool: 'cpu' } });
    const request = registration({ pool: 'cpu' });
    const registered = await borg().client(token.token).register(request);
    const own = borg().client(registered.token);
    await expect(own.register({ ...request, labels: { pool: 'gpu' } })).rejects.toMatchObject({ status: 403 });
    // Even through another registration token with no limits.
    await expect(
      borg()
        .client(borg().registrationToken)
        .register({ ...request, labels: { pool: 'gpu' } }),
    ).rejects.toMatchObject({
      status: 403,
    });
    await expect(own.register(request)).resolves.toMatchObject({ id: registered.id });
  });

  it('are created by admins only, and only registration tokens take limits', async () => {
    const operator = await borg().admin.createToken({ name: 'operator', role: 'operator' });
    await expect(
      borg().client(operator.token).createToken({ name: 'reg', kind: 'registration' }),
    ).rejects.toMatchObject({ status: 403 });
    await expect(borg().admin.createToken({ name: 'user', max_uses: 1 })).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('only registration tokens'),
    });
  });

  it('may register a device again only if it registered it, or with the runner’s own token', async () => {
    const first = await registrationToken(borg(), {});
    const other = await registrationToken(borg(), {});
    const request = registration();
    const registered = await borg().client(first.token).register(request);

    await expect(borg().client(other.token).register(request)).rejects.toMatchObject({
      status: 403,
      message: expect.stringContaining('registration token that first registered it'),
    });
    const stranger = await borg().client(first.token).register(registration());
    await expect(borg().client(stranger.token).register(request)).rejects.toMatchObject({ status: 403 });
    // A runner token cannot register a new device.
    await expect(borg().client(registered.token).register(registration())).rejects.toMatchObject({ status: 403 });

    const again = await borg().client(registered.token).register(request);
    expect(again.id).toBe(registered.id);
    await expect(borg().client(registered.token).heartbeat(registered.id, {})).rejects.toMatchObject({ status: 401 });
    await expect(borg().client(first.token).register(request)).resolves.toMatchObject({ id: registered.id });
  });
});

describe('runner approval (BORG_RUNNER_APPROVAL)', () => {
  const borg = useTestMothership({ config: { runnerApproval: true } });

  it('keeps a new runner from work until an operator approves it, and remembers the approval', async () => {
    const labels = { approval: randomUUID() };
    const runner = await borg().registerRunner({ labels });
    expect((await borg().admin.getRunner(runner.id)).approved).toBe(false);
    const job = await borg().admin.createJob({ name: 'waits', command: 'true', labels });
    await expect(runner.client.nextTasks(runner.id, { wait: 0 })).resolves.toBeNull();

    const submitter = await borg().admin.createToken({ name: 'submitter', role: 'submitter' });
    await expect(borg().client(submitter.token).approveRunner(runner.id)).rejects.toMatchObject({ status: 403 });
    const operator = await borg().admin.createToken({ name: 'operator', role: 'operator' });
    await expect(borg().client(operator.token).approveRunner(runner.id)).resolves.toMatchObject({ approved: true });

    const claimed = await runner.client.nextTasks(runner.id, { wait: 5 });
    expect(claimed?.items.map((t) => t.job_id)).toEqual([job.id]);
    // Registering again is the same runner, still approved.
    const again = await borg().registerRunner({ device_id: runner.deviceId, labels });
    expect(again.id).toBe(runner.id);
    expect((await borg().admin.getRunner(runner.id)).approved).toBe(true);
  });
});

describe('deleting a runner', () => {
  const borg = useTestMothership();

  it('mid-task retries the task elsewhere, ends its token and keeps its device from coming back', async () => {
    const labels = { deletion: randomUUID() };
    const doomed = await borg().registerRunner({ labels });
    const job = await borg().admin.createJob({ name: 'moves', command: 'true', labels, max_attempts: 2 });
    const task = (await doomed.client.nextTasks(doomed.id, { wait: 0 }))!.items[0]!;
    await doomed.client.reportTaskStatus(task.id, { status: 'running' });

    const viewer = await borg().admin.createToken({ name: 'viewer', role: 'viewer' });
    await expect(borg().client(viewer.token).deleteRunner(doomed.id)).rejects.toMatchObject({ status: 403 });
    const operator = await borg().admin.createToken({ name: 'operator', role: 'operator' });
    await expect(borg().client(operator.token).deleteRunner(doomed.id)).resolves.toMatchObject({ id: doomed.id });

    // Its token is refused at once, and so is everything it would still report.
    await expect(doomed.client.heartbeat(doomed.id, {})).rejects.toMatchObject({ status: 401 });
    await expect(doomed.client.reportTaskStatus(task.id, { status: 'succeeded', exit_code: 0 })).rejects.toMatchObject({
      status: 401,
    });
    const attempts = (await borg().admin.getJob(job.id)).tasks;
    expect(attempts.find((t) => t.id === task.id)).toMatchObject({ status: 'lost', reason: 'runner_deleted' });

    const rescuer = await borg().registerRunner({ labels });
    const retried = (await rescuer.client.nextTasks(rescuer.id, { wait: 5 }))!.items[0]!;
    expect(retried).toMatchObject({ job_id: job.id, attempt: 2 });

    await expect(borg().admin.getRunner(doomed.id)).rejects.toMatchObject({ status: 404 });
    expect((await borg().admin.listRunners()).items.map((r) => r.id)).not.toContain(doomed.id);
    await expect(borg().admin.deleteRunner(doomed.id)).rejects.toMatchObject({ status: 404 });
    await expect(borg().registerRunner({ device_id: doomed.deviceId, labels })).rejects.toMatchObject({
      status: 403,
      message: expect.stringContaining('was deleted'),
    });
    const audit = await borg().admin.listAudit({ action: 'runner.delete' });
    expect(audit.items.map((e) => [e.object?.id, e.outcome])).toEqual(
      expect.arrayContaining([
        [doomed.id, 'ok'],
        [doomed.id, 'refused'],
      ]),
    );
  });
});

describe('the runner protocol version', () => {
  const borg = useTestMothership();

  it('is recorded at registration, and a runner on one this mothership does not speak is flagged, not refused', async () => {
    const current = await borg().client(borg().registrationToken).register(registration());
    expect(current.runner).toMatchObject({ protocol_version: PROTOCOL_VERSION, protocol_supported: true });
    // A solder from before the field spoke version 1.
    const { protocol_version: _omitted, ...older } = registration() as RegisterRunnerRequest & {
      protocol_version?: number;
    };
    await expect(borg().client(borg().registrationToken).register(older)).resolves.toMatchObject({
      runner: { protocol_version: 1, protocol_supported: true },
    });

    const future = await borg()
      .client(borg().registrationToken)
      .register({ ...registration(), protocol_version: PROTOCOL_VERSION + 1 });
    expect(future.runner).toMatchObject({ protocol_version: PROTOCOL_VERSION + 1, protocol_supported: false });
    expect((await borg().admin.getRunner(future.id)).protocol_supported).toBe(false);

    const metrics = parsePrometheusText(await borg().admin.metrics());
    expect(sampleValue(metrics, 'borg_runners_unsupported_protocol')).toBe(1);
    // Deleted, it is no longer counted.
    await borg().admin.deleteRunner(future.id);
    await vi.waitFor(
      async () => {
        const after = parsePrometheusText(await borg().admin.metrics());
        expect(sampleValue(after, 'borg_runners_unsupported_protocol')).toBe(0);
      },
      { timeout: 15_000, interval: 500 },
    ); // database gauges are read at most every 5 s
  });
});
