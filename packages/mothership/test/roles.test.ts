import { describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';

/**
 * Roles of user tokens (viewer < submitter < operator < admin), who created what, and the
 * submitter's reach: its own jobs only. Which route needs which role is auth.test.ts's table.
 */
describe('token roles', () => {
  const borg = useTestMothership();

  it('are submitter unless asked, recorded with the creating token, and shown by whoami', async () => {
    const { admin } = borg();
    const me = await admin.whoami();
    expect(me).toMatchObject({ kind: 'user', role: 'admin', runner_id: null });

    const plain = await admin.createToken({ name: 'ci' });
    expect(plain).toMatchObject({ kind: 'user', role: 'submitter', created_by: me.token_id });
    const viewer = await admin.createToken({ name: 'wallboard', role: 'viewer' });
    expect(viewer.role).toBe('viewer');
    expect(await borg().client(viewer.token).whoami()).toEqual({
      token_id: viewer.id,
      name: 'wallboard',
      kind: 'user',
      role: 'viewer',
      runner_id: null,
    });
    const listed = (await admin.listTokens()).items.find((t) => t.id === viewer.id);
    expect(listed).toMatchObject({ role: 'viewer', created_by: me.token_id });
  });

  it('belong to user tokens only: a registration token with a role is refused', async () => {
    await expect(borg().admin.createToken({ name: 'pool', kind: 'registration', role: 'admin' })).rejects.toMatchObject(
      { status: 400, code: 'VALIDATION_FAILED' },
    );
    const registration = await borg().admin.createToken({ name: 'pool', kind: 'registration' });
    expect(registration.role).toBeNull();
  });

  it('cannot be minted by anyone but an admin, so no token makes one with more rights than its own', async () => {
    const operator = await borg().admin.createToken({ name: 'ops', role: 'operator' });
    const asOperator = borg().client(operator.token);
    for (const role of ['viewer', 'operator', 'admin'] as const) {
      await expect(asOperator.createToken({ name: 'escalate', role })).rejects.toMatchObject({
        code: 'FORBIDDEN',
        message: 'this route needs the admin role; this token is an operator',
      });
    }
    expect((await borg().admin.listTokens()).items.some((t) => t.name === 'escalate')).toBe(false);
  });
});

describe('jobs and their submitters', () => {
  const borg = useTestMothership();

  it("record who submitted them: the token's id and name", async () => {
    const token = await borg().admin.createToken({ name: 'nightly-ci' });
    const job = await borg().client(token.token).createJob({ name: 'build', command: 'true' });
    expect(job.created_by).toEqual({ token_id: token.id, name: 'nightly-ci' });
    expect((await borg().admin.getJob(job.id)).created_by).toEqual({ token_id: token.id, name: 'nightly-ci' });
    expect((await borg().admin.listJobs()).items.find((j) => j.id === job.id)?.created_by).toEqual(job.created_by);
  });

  it('may be paused, resumed, cancelled and retried by their submitter, and by no other submitter', async () => {
    const alice = borg().client((await borg().admin.createToken({ name: 'alice' })).token);
    const bob = borg().client((await borg().admin.createToken({ name: 'bob' })).token);
    const job = await alice.createJob({ name: "alice's", command: 'true', labels: { nobody: 'here' } });

    for (const act of [
      () => bob.pauseJob(job.id),
      () => bob.resumeJob(job.id),
      () => bob.cancelJob(job.id),
      () => bob.retryJob(job.id),
    ]) {
      await expect(act()).rejects.toMatchObject({
        status: 403,
        code: 'FORBIDDEN',
        message: expect.stringContaining(`job ${job.id} was submitted by "alice"`),
      });
    }
    expect((await alice.getJob(job.id)).status).toBe('queued');

    await expect(alice.pauseJob(job.id)).resolves.toMatchObject({ paused: true });
    await expect(alice.resumeJob(job.id)).resolves.toMatchObject({ paused: false });
    await expect(alice.cancelJob(job.id)).resolves.toMatchObject({ status: 'cancelled' });
    await expect(alice.retryJob(job.id)).resolves.toMatchObject({ status: 'queued' });
  });

  it('may be changed by any operator or admin', async () => {
    const alice = borg().client((await borg().admin.createToken({ name: 'alice' })).token);
    const operator = borg().client((await borg().admin.createToken({ name: 'ops', role: 'operator' })).token);
    const job = await alice.createJob({ name: 'left running', command: 'true', labels: { nobody: 'here' } });
    await expect(operator.pauseJob(job.id)).resolves.toMatchObject({ paused: true });
    await expect(borg().admin.cancelJob(job.id)).resolves.toMatchObject({ status: 'cancelled' });
  });
});
