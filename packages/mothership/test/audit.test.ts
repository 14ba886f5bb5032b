import type { AuditEvent } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { rawRequest, useTestMothership } from '../../../test/test-mothership.ts';

/** The audit log: every state-changing call and every download, answered or refused. */
describe('the audit log', () => {
  const borg = useTestMothership();

  /** The newest entries about one object, once `count` of them are written (entries follow the answer). */
  async function entriesAbout(objectId: string, count: number): Promise<AuditEvent[]> {
    let items: AuditEvent[] = [];
    await expect
      .poll(async () => (items = (await borg().admin.listAudit({ object: objectId })).items).length)
      .toBeGreaterThanOrEqual(count);
    return items;
  }

  it('records who submitted, cancelled and downloaded what, from where, and how it ended', async () => {
    const { admin } = borg();
    const token = await admin.createToken({ name: 'release-bot' });
    const bot = borg().client(token.token);
    const file = await bot.uploadFile(new Blob(['input']), 'in.txt');
    const job = await bot.createJob({ name: 'audited', command: 'true', labels: { nobody: 'here' } });
    await bot.cancelJob(job.id);
    await (await bot.downloadFile(file.id)).arrayBuffer();

    const [cancel, submit] = await entriesAbout(job.id, 2);
    const actor = { token_id: token.id, name: 'release-bot', kind: 'user', role: 'submitter' };
    expect(submit).toMatchObject({
      action: 'job.submit',
      actor,
      address: '127.0.0.1',
      object: { type: 'job', id: job.id },
      status: 201,
      outcome: 'ok',
      request_id: expect.any(String),
    });
    expect(cancel).toMatchObject({ action: 'job.cancel', actor, status: 200, outcome: 'ok' });
    expect(Number(cancel!.id)).toBeGreaterThan(Number(submit!.id));

    const [download, upload] = await entriesAbout(file.id, 2);
    expect(upload).toMatchObject({ action: 'file.upload', actor, object: { type: 'file', id: file.id } });
    expect(download).toMatchObject({ action: 'file.download', actor, outcome: 'ok' });
  });

  it('records refused calls too: a stranger, and a token below the role', async () => {
    const { admin } = borg();
    const job = await admin.createJob({ name: 'target', command: 'true', labels: { nobody: 'here' } });
    const viewer = await admin.createToken({ name: 'peeker', role: 'viewer' });
    await expect(borg().client(viewer.token).cancelJob(job.id)).rejects.toMatchObject({ status: 403 });
    const anonymous = await rawRequest(borg().url, { method: 'POST', path: `/api/v1/jobs/${job.id}/cancel` });
    expect(anonymous.status).toBe(401);

    const entries = await entriesAbout(job.id, 3);
    const refusals = entries.filter((e) => e.action === 'job.cancel');
    expect(refusals.map((e) => [e.actor?.name ?? null, e.status, e.outcome])).toEqual([
      [null, 401, 'refused'],
      ['peeker', 403, 'refused'],
    ]);
    expect((await admin.getJob(job.id)).status).toBe('queued');
  });

  it('records registrations and token changes, with the object they created', async () => {
    const { admin } = borg();
    const runner = await borg().registerRunner({ name: 'audited-runner' });
    const [registration] = await entriesAbout(runner.id, 1);
    expect(registration).toMatchObject({
      action: 'runner.register',
      actor: { kind: 'registration' },
      object: { type: 'runner', id: runner.id },
    });
    const token = await admin.createToken({ name: 'short-lived' });
    await admin.revokeToken(token.id);
    const [revoke, create] = await entriesAbout(token.id, 2);
    expect([create!.action, revoke!.action]).toEqual(['token.create', 'token.revoke']);
    expect(create!.actor?.role).toBe('admin');
  });

  it('leaves reads out', async () => {
    const { admin } = borg();
    const job = await admin.createJob({ name: 'read only', command: 'true', labels: { nobody: 'here' } });
    await admin.getJob(job.id);
    await admin.listJobs();
    await entriesAbout(job.id, 1);
    // Every entry about the job is its submission: the reads wrote nothing.
    const all = await admin.listAudit({ object: job.id });
    expect(all.items.map((e) => e.action)).toEqual(['job.submit']);
  });

  it('pages newest first and filters by actor, action and time', async () => {
    const { admin } = borg();
    const token = await admin.createToken({ name: 'pager' });
    const pager = borg().client(token.token);
    const jobs = [];
    for (let i = 0; i < 5; i++)
      jobs.push(await pager.createJob({ name: `p${i}`, command: 'true', labels: { x: 'y' } }));
    await entriesAbout(jobs.at(-1)!.id, 1);

    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await admin.listAudit({ actor: token.id, action: 'job.submit', limit: 2, cursor });
      seen.push(...page.items.map((e) => e.object!.id));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(jobs.map((j) => j.id).reverse());

    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await admin.listAudit({ actor: token.id, after: future })).items).toEqual([]);
    expect((await admin.listAudit({ actor: token.id, before: future })).items).toHaveLength(5);
  });

  it('orders by when entries were written, not by the text of their ids (9 before 10)', async () => {
    const { admin } = borg();
    for (let i = 0; i < 12; i++) await admin.createJob({ name: `n${i}`, command: 'true', labels: { n: 'n' } });
    await expect.poll(async () => (await admin.listAudit({ limit: 500 })).items.length).toBeGreaterThanOrEqual(12);
    const ids: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await admin.listAudit({ limit: 7, cursor });
      ids.push(...page.items.map((e) => Number(e.id)));
      cursor = page.next_cursor ?? undefined;
    } while (cursor);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));
    expect(new Set(ids).size).toBe(ids.length);
    expect(Math.min(...ids)).toBeLessThan(10);
    expect(Math.max(...ids)).toBeGreaterThanOrEqual(10);
  });

  it('is append-only: the database refuses to change or remove an entry', async () => {
    await entriesAbout((await borg().admin.createJob({ name: 'x', command: 'true', labels: { a: 'b' } })).id, 1);
    await expect(borg().db.query("UPDATE audit_events SET action = 'job.retry'")).rejects.toThrow(/append-only/);
    await expect(borg().db.query('DELETE FROM audit_events')).rejects.toThrow(/append-only/);
  });
});
