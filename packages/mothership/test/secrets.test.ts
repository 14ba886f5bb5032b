import { randomBytes } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

import { TestMothership, useTestMothership } from '../../../test/test-mothership.ts';

const VALUE = `s3cr3t-${randomBytes(12).toString('hex')}`;

/** Secrets: stored encrypted, named by jobs, handed only to the runner running a task. */
describe('secrets', () => {
  const borg = useTestMothership();

  it('are created, replaced, listed by name and deleted, and their value is never returned', async () => {
    const { admin } = borg();
    const created = await admin.putSecret('deploy-token', { value: VALUE });
    expect(created).toEqual({ name: 'deploy-token', created_at: expect.any(String), updated_at: expect.any(String) });
    const replaced = await admin.putSecret('deploy-token', { value: `${VALUE}-2` });
    expect(replaced.created_at).toBe(created.created_at);
    const listed = await admin.listSecrets();
    expect(listed.items.map((s) => s.name)).toContain('deploy-token');
    expect(JSON.stringify([created, replaced, listed])).not.toContain(VALUE);

    await expect(admin.deleteSecret('deploy-token')).resolves.toMatchObject({ name: 'deploy-token' });
    await expect(admin.deleteSecret('deploy-token')).rejects.toMatchObject({ status: 404, code: 'SECRET_NOT_FOUND' });
  });

  it('are stored encrypted under a key kept in a mode-600 file', async () => {
    await borg().admin.putSecret('at-rest', { value: VALUE });
    const { rows } = await borg().db.query<{ row: string }>('SELECT row_to_json(s)::text AS row FROM secrets s');
    expect(rows.length).toBeGreaterThan(0);
    for (const { row } of rows) {
      expect(row).not.toContain(VALUE);
      expect(row).not.toContain(Buffer.from(VALUE).toString('hex'));
    }
    const keyFile = join(borg().services.config.dataDir, 'secret.key');
    expect((await stat(keyFile)).mode & 0o777).toBe(0o600);
  });

  it('are refused at submit when a job names one that does not exist, or gives a variable two sources', async () => {
    const { admin } = borg();
    await expect(
      admin.createJob({ name: 'x', command: 'true', secrets: { TOKEN: 'no-such-secret' } }),
    ).rejects.toMatchObject({ status: 400, message: 'unknown secret no-such-secret: create it first' });
    await admin.putSecret('both', { value: VALUE });
    await expect(
      admin.createJob({ name: 'x', command: 'true', env: { TOKEN: 'x' }, secrets: { TOKEN: 'both' } }),
    ).rejects.toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
  });

  it('reach the runner that claims a task, and no response, event or stored log line besides', async () => {
    const { admin } = borg();
    await admin.putSecret('api-key', { value: VALUE });
    const labels = { secrets: randomBytes(4).toString('hex') };
    const runner = await borg().registerRunner({ labels });

    const live = new WebSocket(`${borg().url.replace(/^http/, 'ws')}/ws`, {
      headers: { authorization: `Bearer ${borg().adminToken}` },
    });
    const frames: string[] = [];
    live.on('message', (data) => frames.push(data.toString()));
    await new Promise((resolve) => live.once('open', resolve));
    live.send(JSON.stringify({ type: 'subscribe', topics: ['jobs'] }));
    await expect.poll(() => frames.some((f) => f.includes('"subscribed"'))).toBe(true);

    const job = await admin.createJob({
      name: 'uses a secret',
      command: 'true',
      labels,
      secrets: { API_KEY: 'api-key' },
    });
    expect(job.secrets).toEqual({ API_KEY: 'api-key' });
    const claimed = (await runner.client.nextTasks(runner.id, { wait: 0 }))!.items[0]!;
    expect(claimed.secrets).toEqual({ API_KEY: VALUE });
    expect(claimed.missing_secrets).toEqual([]);
    expect(claimed.env).not.toHaveProperty('API_KEY');

    await runner.client.reportTaskStatus(claimed.id, { status: 'running' });
    // The solder masks first; a line that slipped through is masked by the mothership.
    await runner.client.appendTaskLogs(claimed.id, {
      seq: 0,
      lines: [{ stream: 'stdout', message: `token=${VALUE} done` }],
    });
    // The same for a batch sent packed, as the solder sends them.
    await runner.client.appendTaskLogs(claimed.id, {
      seq: 1,
      packed: { streams: 'e', messages: [`again ${VALUE}`] },
    });
    const logs = await admin.getTaskLogs(claimed.id);
    expect(logs.items.map((l) => l.message)).toEqual(['token=*** done', 'again ***']);

    await runner.client.reportTaskStatus(claimed.id, { status: 'succeeded', exit_code: 0 });
    await expect.poll(() => frames.some((f) => f.includes('"succeeded"'))).toBe(true);
    live.close();
    const seen = [
      JSON.stringify(await admin.getJob(job.id)),
      JSON.stringify(await admin.listJobs()),
      JSON.stringify(await admin.getTask(claimed.id)),
      JSON.stringify(await admin.runnerTasks(runner.id)),
      JSON.stringify(await admin.listAudit()),
      ...frames,
    ].join('\n');
    expect(seen).not.toContain(VALUE);
  });

  it('deleted after submit, are named missing in the claim, so the task is not run without them', async () => {
    const { admin } = borg();
    await admin.putSecret('short-lived', { value: VALUE });
    const labels = { missing: randomBytes(4).toString('hex') };
    const runner = await borg().registerRunner({ labels });
    await admin.createJob({ name: 'orphaned', command: 'true', labels, secrets: { S: 'short-lived' } });
    await admin.deleteSecret('short-lived');
    const claimed = (await runner.client.nextTasks(runner.id, { wait: 0 }))!.items[0]!;
    expect(claimed).toMatchObject({ secrets: {}, missing_secrets: ['short-lived'] });
  });

  it('are only for admins', async () => {
    const operator = borg().client((await borg().admin.createToken({ name: 'ops', role: 'operator' })).token);
    await expect(operator.listSecrets()).rejects.toMatchObject({ status: 403 });
    await expect(operator.putSecret('x', { value: VALUE })).rejects.toMatchObject({ status: 403 });
  });
});

describe('the secret key', () => {
  it('from BORG_SECRET_KEY rotates: secrets under BORG_SECRET_KEY_PREVIOUS are sealed again at start', async () => {
    const first = randomBytes(32).toString('hex');
    const second = randomBytes(32).toString('base64');
    const borg = await TestMothership.start({ config: { secretKey: first } });
    try {
      await borg.admin.putSecret('rotated', { value: VALUE });
      const keyIdBefore = (await borg.db.query<{ key_id: string }>('SELECT key_id FROM secrets')).rows[0]!.key_id;

      await borg.restart({ config: { secretKey: second, previousSecretKey: first } });
      const keyIdAfter = (await borg.db.query<{ key_id: string }>('SELECT key_id FROM secrets')).rows[0]!.key_id;
      expect(keyIdAfter).not.toBe(keyIdBefore);

      // The old key is no longer needed: the value opens under the new one alone.
      await borg.restart({ config: { secretKey: second, previousSecretKey: undefined } });
      const runner = await borg.registerRunner({ labels: { rotated: 'yes' } });
      await borg.admin.createJob({ name: 'r', command: 'true', labels: { rotated: 'yes' }, secrets: { S: 'rotated' } });
      expect((await runner.client.nextTasks(runner.id, { wait: 0 }))!.items[0]!.secrets).toEqual({ S: VALUE });
    } finally {
      await borg.close();
    }
  });

  it('is refused when it is not 32 bytes', async () => {
    await expect(TestMothership.start({ config: { secretKey: 'too-short' } })).rejects.toThrow(
      /BORG_SECRET_KEY must be 32 bytes/,
    );
  });
});
