import { createHash, randomBytes, randomUUID } from 'node:crypto';

import type { TokenInfo } from '@borg/protocol';
import type { FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';

import { rawRequest, TestMothership, useTestMothership } from '../../../test/test-mothership.ts';
import { servedRoutes } from './served-routes.ts';

/**
 * DESIGN "Semantics" 8 and the API contract: tokens are shown once, listed without their values,
 * revoked at once; registration tokens made through the API let solders in. Also the OpenAPI
 * document and the overview counts, two more things a client reads to understand the server.
 */

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Shared by the token and OpenAPI tests; the counts get a mothership of their own. */
const borg = useTestMothership();

describe('API tokens', () => {
  it('are shown once, at creation, and never again in the list', async () => {
    const { admin } = borg();
    const created = await admin.createToken({ name: 'ci pipeline' });
    expect(created).toMatchObject({
      name: 'ci pipeline',
      kind: 'user',
      runner_id: null,
      revoked_at: null,
      expires_at: null,
    });
    expect(created.token).toMatch(/^borg_usr_[A-Za-z0-9_-]{40,}$/);

    const listText = JSON.stringify(await rawRequest(borg().url, { path: '/api/v1/tokens', token: borg().adminToken }));
    expect(listText).not.toContain(created.token);
    expect(listText).not.toContain(sha256(created.token));
    const listed = (await admin.listTokens()).items.find((t) => t.id === created.id);
    const { token: _value, ...info } = created;
    expect(listed).toEqual(info);
    expect(listed).not.toHaveProperty('token');
  });

  it('work at once, and a second token is a different secret', async () => {
    const one = await borg().admin.createToken({ name: 'one' });
    const two = await borg().admin.createToken({ name: 'two' });
    expect(one.token).not.toBe(two.token);
    const jobs = await borg().client(one.token).listJobs();
    expect(jobs.items).toEqual(expect.any(Array));
    await expect(borg().client(two.token).stats()).resolves.toMatchObject({ jobs: expect.any(Object) });
  });

  it('stop working the moment they are revoked, even inside the authentication cache window', async () => {
    const { admin } = borg();
    const created = await admin.createToken({ name: 'short-lived' });
    const client = borg().client(created.token);
    await client.listJobs(); // now cached as valid
    await client.listJobs();

    const revoked = await admin.revokeToken(created.id);
    expect(revoked.revoked_at).not.toBeNull();
    await expect(client.listJobs()).rejects.toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
    // Revoking again changes nothing; the list shows when it happened.
    expect((await admin.revokeToken(created.id)).revoked_at).toBe(revoked.revoked_at);
    expect((await admin.listTokens()).items.find((t) => t.id === created.id)?.revoked_at).toBe(revoked.revoked_at);
  });

  it('can revoke themselves, and then do not work', async () => {
    const created = await borg().admin.createToken({ name: 'self-revoking', role: 'admin' });
    const self = borg().client(created.token);
    await expect(self.revokeToken(created.id)).resolves.toMatchObject({ id: created.id });
    await expect(self.listTokens()).rejects.toMatchObject({ status: 401 });
  });

  it('answer 404 when revoking a token that does not exist', async () => {
    await expect(borg().admin.revokeToken(randomUUID())).rejects.toMatchObject({
      status: 404,
      code: 'TOKEN_NOT_FOUND',
    });
  });

  it('may expire: expires_at is exactly the asked number of seconds after creation', async () => {
    const created = await borg().admin.createToken({ name: 'expiring', expires_in_seconds: 3600 });
    expect(Date.parse(created.expires_at!) - Date.parse(created.created_at)).toBe(3600 * 1000);
    await expect(borg().client(created.token).listJobs()).resolves.toMatchObject({ items: expect.any(Array) });
    for (const expires_in_seconds of [0, 59, -1]) {
      await expect(borg().admin.createToken({ name: 'x', expires_in_seconds })).rejects.toMatchObject({ status: 400 });
    }
  });

  it('of the registration kind let a solder register, and nothing else; revoked, they let no one in', async () => {
    const { admin } = borg();
    const registration = await admin.createToken({ name: 'rack 7', kind: 'registration' });
    expect(registration.token).toMatch(/^borg_reg_/);
    const solder = borg().client(registration.token);
    const registered = await solder.register({
      device_id: `rack7-${randomUUID()}`,
      name: 'rack 7 node 1',
      max_concurrent_tasks: 2,
    });
    expect(registered.token).toMatch(/^borg_run_/);
    expect(registered.runner).toMatchObject({
      id: registered.id,
      name: 'rack 7 node 1',
      max_concurrent_tasks: 2,
      status: 'online',
    });
    const runner = borg().client(registered.token);
    await expect(runner.heartbeat(registered.id, {})).resolves.toMatchObject({ ok: true });

    await expect(solder.listJobs()).rejects.toMatchObject({ status: 403 });
    await expect(solder.heartbeat(registered.id, {})).rejects.toMatchObject({ status: 403 });

    await admin.revokeToken(registration.id);
    await expect(solder.register({ device_id: `rack7-${randomUUID()}`, name: 'too late' })).rejects.toMatchObject({
      status: 401,
    });
    // The runner it let in keeps its own token.
    await expect(runner.heartbeat(registered.id, {})).resolves.toMatchObject({ ok: true });
  });

  it('cannot be created as runner tokens, nor can a runner token be revoked through this route', async () => {
    const response = await rawRequest(borg().url, {
      method: 'POST',
      path: '/api/v1/tokens',
      token: borg().adminToken,
      body: JSON.stringify({ name: 'sneaky', kind: 'runner' }),
    });
    expect(response.status).toBe(400);
    const runner = await borg().registerRunner();
    const { rows } = await borg().db.query<{ id: string }>('SELECT id FROM api_tokens WHERE runner_id = $1', [
      runner.id,
    ]);
    await expect(borg().admin.revokeToken(rows[0]!.id)).rejects.toMatchObject({ status: 404 });
    await expect(runner.client.heartbeat(runner.id, {})).resolves.toMatchObject({ ok: true });
  });
});

describe('tokens from the environment', () => {
  it('are revoked when BORG_ADMIN_TOKEN or BORG_REGISTRATION_TOKEN changes, and only those', async () => {
    const borg = await TestMothership.start();
    try {
      const oldAdmin = borg.client(borg.adminToken);
      const oldRegistration = borg.client(borg.registrationToken);
      const minted = await oldAdmin.createToken({ name: 'made by the old admin token' });
      const newAdmin = `rotated-admin-${randomBytes(16).toString('hex')}`;
      const newRegistration = `rotated-registration-${randomBytes(16).toString('hex')}`;

      await borg.restart({ config: { adminToken: newAdmin, registrationToken: newRegistration } });
      await expect(oldAdmin.whoami()).rejects.toMatchObject({ status: 401 });
      await expect(oldRegistration.register({ device_id: randomUUID(), name: 'late' })).rejects.toMatchObject({
        status: 401,
      });
      await expect(borg.client(newAdmin).whoami()).resolves.toMatchObject({ role: 'admin' });
      await expect(
        borg.client(newRegistration).register({ device_id: randomUUID(), name: 'on time' }),
      ).resolves.toMatchObject({ token: expect.any(String) });
      // Tokens made through the API are the admin's to revoke, not the environment's.
      await expect(borg.client(minted.token).whoami()).resolves.toMatchObject({ name: minted.name });

      // The same value again changes nothing.
      await borg.restart();
      await expect(borg.client(newAdmin).whoami()).resolves.toMatchObject({ role: 'admin' });
    } finally {
      await borg.close();
    }
  });
});

/** The /api/v1 routes as the router has them (auth.test.ts checks who may call each). */
function apiRoutes(app: FastifyInstance): string[] {
  return servedRoutes(app)
    .filter((route) => route.split(' ')[1]!.startsWith('/api/v1/'))
    .sort();
}

describe('the OpenAPI document', () => {
  it('is OpenAPI 3, served to token holders, and describes every /api/v1 route', async () => {
    const response = await rawRequest(borg().url, { path: '/api/docs', token: borg().adminToken });
    expect(response.status).toBe(200);
    const doc = response.body as {
      openapi: string;
      paths: Record<string, Record<string, { summary?: string; responses?: Record<string, unknown> }>>;
      components: { securitySchemes: Record<string, unknown> };
    };
    expect(doc.openapi).toMatch(/^3\./);
    expect(doc.components.securitySchemes).toHaveProperty('bearer');

    const documented = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    const served = apiRoutes(borg().mothership.app);
    expect(served.length).toBeGreaterThan(20);
    expect(documented).toEqual(expect.arrayContaining(served));
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(methods)) {
        expect(operation.summary, `${method} ${path}`).toEqual(expect.any(String));
        expect(
          Object.keys(operation.responses ?? {}).some((s) => s.startsWith('2')),
          `${method} ${path}`,
        ).toBe(true);
      }
    }
    expect(doc.paths['/api/v1/jobs']?.post).toHaveProperty('requestBody');
  });
});

describe('the overview counts (GET /api/v1/stats)', () => {
  const fresh = useTestMothership();

  it('match what was created: jobs and tasks by status, runners by state, the claimable queue', async () => {
    const started = performance.now();
    const { admin } = fresh();
    const busy = await fresh().registerRunner({ labels: { who: 'busy' } });
    const draining = await fresh().registerRunner({ labels: { who: 'draining' } });
    const worker = await fresh().registerRunner({ labels: { who: 'worker' } });
    await admin.drainRunner(draining.id);

    await admin.createJob({ name: 'array', command: 'true', array_size: 3, labels: { who: 'busy' } });
    await busy.client.nextTasks(busy.id, { wait: 0 });
    const paused = await admin.createJob({ name: 'paused', command: 'true', labels: { who: 'nobody' } });
    await admin.pauseJob(paused.id);
    const cancelled = await admin.createJob({ name: 'cancelled', command: 'true', labels: { who: 'nobody' } });
    await admin.cancelJob(cancelled.id);
    for (const outcome of ['succeeded', 'failed'] as const) {
      await admin.createJob({ name: outcome, command: 'true', labels: { who: 'worker' } });
      const task = (await worker.client.nextTasks(worker.id, { wait: 0 }))!.items[0]!;
      await worker.client.reportTaskStatus(task.id, { status: 'running' });
      await worker.client.reportTaskStatus(task.id, { status: outcome, exit_code: outcome === 'succeeded' ? 0 : 1 });
    }

    const stats = await admin.stats();
    expect(stats.jobs).toEqual({
      blocked: 0,
      queued: 0,
      running: 1,
      paused: 1,
      succeeded: 1,
      failed: 1,
      cancelled: 1,
      skipped: 0,
      total: 5,
    });
    expect(stats.tasks).toEqual({
      blocked: 0,
      skipped: 0,
      pending: 3,
      assigned: 1,
      running: 0,
      succeeded: 1,
      failed: 1,
      cancelled: 1,
      timed_out: 0,
      lost: 0,
    });
    expect(stats.runners).toEqual({ online: 1, busy: 1, draining: 1, offline: 0, total: 3 });
    // Two of the array's elements wait; the paused job's task is not claimable.
    expect(stats.queue_depth).toBe(2);
    // The oldest claimable task was submitted during this test (the database's clock may lead by a second).
    expect(stats.oldest_pending_seconds).toBeLessThanOrEqual((performance.now() - started) / 1000 + 1);
    expect((await admin.listJobs()).items).toHaveLength(stats.jobs.total);
  });
});

describe('when a token was last used', () => {
  // Touches are written together, a second at most after the use (authenticator.ts).
  it('is recorded for every token used, in one write for several', async () => {
    const { admin } = borg();
    const tokens = await Promise.all([0, 1, 2].map((i) => admin.createToken({ name: `touched-${i}` })));
    const unused = await admin.createToken({ name: 'never used' });
    await Promise.all(tokens.map((t) => borg().client(t.token).listJobs()));
    let listed: TokenInfo[] = [];
    await expect
      .poll(
        async () => {
          listed = (await admin.listTokens()).items;
          return tokens.filter((t) => listed.find((l) => l.id === t.id)?.last_used_at).length;
        },
        { timeout: 10_000, message: 'last_used_at recorded for the three tokens used' },
      )
      .toBe(3);
    expect(listed.find((l) => l.id === unused.id)?.last_used_at).toBeNull();
  });
});
