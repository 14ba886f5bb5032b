import type { BorgClient, CreateScheduleRequest, Schedule } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { rawRequest, useTestMothership } from '../../../test/test-mothership.ts';
import { eventually } from '../../../test/test-solder.ts';

/**
 * Schedules over the API, on the engine under test: create (the cron and time zone checked, the
 * job spec by the rules of a submit), read, change, pause and resume, delete, trigger; who may
 * do which; and fires of a real schedule, each slot's job made once. The restart, overlap and
 * replica cases have files of their own (schedules-*.test.ts).
 */
describe('schedules', () => {
  const borg = useTestMothership();
  const admin = () => borg().admin;

  /** A job no runner takes (no runner has the label): it stays queued, which is all these tests need. */
  const idleJob = (name: string) => ({ name, command: 'true', labels: { nobody: 'here' } });

  function schedule(body: Partial<CreateScheduleRequest> = {}, client: BorgClient = admin()) {
    return client.createSchedule({ name: 'nightly', cron: '0 3 * * *', job: idleJob('nightly-job'), ...body });
  }

  /** Berlin's wall clock for an ISO instant: "2026-03-29 03:00". */
  const berlin = (iso: string) =>
    new Intl.DateTimeFormat('sv-SE', {
      timeZone: 'Europe/Berlin',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
    }).format(new Date(iso));

  it('is created with its defaults and its next fire at the cron time in its time zone', async () => {
    const created = await schedule({ timezone: 'europe/berlin' });
    const me = await admin().whoami();
    expect(created).toMatchObject({
      name: 'nightly',
      cron: '0 3 * * *',
      timezone: 'Europe/Berlin',
      overlap: 'skip',
      catch_up: 'none',
      paused: false,
      created_by: { token_id: me.token_id, name: me.name },
      last_fires: [],
    });
    expect(created.job).toMatchObject({ name: 'nightly-job', type: 'shell', max_attempts: 1, array_size: 1 });
    const next = new Date(created.next_fire_at!);
    expect(next.getTime()).toBeGreaterThan(Date.now());
    expect(next.getTime() - Date.now()).toBeLessThanOrEqual(25 * 3600_000);
    expect(berlin(created.next_fire_at!)).toMatch(/ 03:00$/);
    expect(await admin().getSchedule(created.id)).toEqual(created);
    expect((await admin().listSchedules()).items.map((s) => s.id)).toContain(created.id);
  });

  it('refuses a bad cron, time zone or job spec with a 400 that says what is wrong', async () => {
    const cases: Array<[string, unknown, RegExp]> = [
      ['a cron of three fields', { cron: '* * *' }, /cron "\* \* \*" is not valid: .*five, six/],
      ['a minute of 61', { cron: '61 * * * *' }, /cron "61 \* \* \* \*" is not valid: Invalid value for minute: 61/],
      ['seven fields', { cron: '0 0 0 * * * *' }, /is not valid/],
      ['a date that never comes', { cron: '0 0 30 2 *' }, /never fires/],
      ['an empty cron', { cron: ' ' }, /cron/],
      ['an unknown time zone', { timezone: 'Mars/Olympus' }, /timezone "Mars\/Olympus" is not an IANA time zone name/],
      ['an offset for a time zone', { timezone: '+01:00' }, /not an IANA time zone name/],
      ['a job without a command', { job: { name: 'x' } }, /job\.command/],
      ['a binary job with a string', { job: { name: 'x', type: 'binary', command: 'ls' } }, /argv array/],
      [
        'a job naming a secret that does not exist',
        { job: { name: 'x', command: 'true', secrets: { TOKEN: 'no-such-secret' } } },
        /job: unknown secret no-such-secret: create it first/,
      ],
      [
        'a job naming a file that does not exist',
        { job: { name: 'x', command: 'true', files: [{ file_id: crypto.randomUUID(), path: 'in.txt' }] } },
        /job: unknown file id/,
      ],
      ['an overlap that does not exist', { overlap: 'queue' }, /overlap/],
      ['a catch_up that does not exist', { catch_up: 'all' }, /catch_up/],
      ['an unknown field', { every: '5m' }, /every/],
    ];
    for (const [what, change, message] of cases) {
      const response = await rawRequest(borg().url, {
        method: 'POST',
        path: '/api/v1/schedules',
        token: borg().adminToken,
        body: JSON.stringify({ name: 'bad', cron: '0 3 * * *', job: idleJob('bad'), ...(change as object) }),
      });
      expect(response.status, what).toBe(400);
      expect(response.body, what).toMatchObject({
        error: { code: 'VALIDATION_FAILED', message: expect.stringMatching(message) },
      });
    }
    // Nothing of it was stored, not even a job from the spec's dry run.
    expect((await admin().listSchedules()).items.filter((s) => s.name === 'bad')).toEqual([]);
    expect((await admin().listJobs({ name: 'x' })).items).toEqual([]);

    const existing = await schedule({ name: 'patched badly' });
    for (const body of [{}, { cron: 'nonsense' }, { timezone: 'Nowhere/City' }, { job: { name: 'x' } }]) {
      const response = await rawRequest(borg().url, {
        method: 'PATCH',
        path: `/api/v1/schedules/${existing.id}`,
        token: borg().adminToken,
        body: JSON.stringify(body),
      });
      expect(response.status, JSON.stringify(body)).toBe(400);
    }
    expect(await admin().getSchedule(existing.id)).toEqual(existing);
  });

  it('is read by viewers, created by operators, and changed only by its creator or an admin', async () => {
    const tokens = Object.fromEntries(
      await Promise.all(
        (['viewer', 'submitter', 'operator'] as const).map(async (role) => [
          role,
          borg().client((await admin().createToken({ name: `sched ${role}`, role })).token),
        ]),
      ),
    ) as Record<'viewer' | 'submitter' | 'operator', BorgClient>;
    const other = borg().client((await admin().createToken({ name: 'other operator', role: 'operator' })).token);

    for (const role of ['viewer', 'submitter'] as const) {
      await expect(schedule({}, tokens[role]), role).rejects.toMatchObject({
        status: 403,
        message: `this route needs the operator role; this token is a ${role}`,
      });
    }
    const own = await schedule({ name: 'ops nightly' }, tokens.operator);
    expect(own.created_by?.name).toBe('sched operator');
    expect((await tokens.viewer.getSchedule(own.id)).name).toBe('ops nightly');
    expect((await tokens.viewer.listSchedules()).items.some((s) => s.id === own.id)).toBe(true);
    await expect(tokens.viewer.triggerSchedule(own.id)).rejects.toMatchObject({ status: 403 });

    const refusal = {
      status: 403,
      code: 'FORBIDDEN',
      message: `an operator token may change only the schedules it created; schedule ${own.id} was created by "sched operator" (the admin role may change any schedule)`,
    };
    await expect(other.updateSchedule(own.id, { paused: true })).rejects.toMatchObject(refusal);
    await expect(other.triggerSchedule(own.id)).rejects.toMatchObject(refusal);
    await expect(other.deleteSchedule(own.id)).rejects.toMatchObject(refusal);
    expect((await admin().getSchedule(own.id)).paused).toBe(false);

    expect((await tokens.operator.updateSchedule(own.id, { name: 'ops nightly 2' })).name).toBe('ops nightly 2');
    expect((await admin().updateSchedule(own.id, { paused: true })).paused).toBe(true);
    await admin().deleteSchedule(own.id);

    // Every change is in the audit log, refused ones too (written after each answer, so in any order).
    const audit = await eventually(async () => {
      const { items } = await admin().listAudit({ object: own.id });
      return items.length === 8 && items;
    });
    expect(audit.map((e) => `${e.action} ${e.outcome}`).sort()).toEqual([
      'schedule.create ok',
      'schedule.delete ok',
      'schedule.delete refused',
      'schedule.trigger refused',
      'schedule.trigger refused',
      'schedule.update ok',
      'schedule.update ok',
      'schedule.update refused',
    ]);
  });

  it('fires once now on trigger, paused or not, submitting the job as its creator with its schedule and slot', async () => {
    const operator = await admin().createToken({ name: 'trigger owner', role: 'operator' });
    const created = await schedule({ name: 'by hand', paused: true }, borg().client(operator.token));
    expect(created.next_fire_at).toBeNull();

    const before = Date.now();
    const job = await admin().triggerSchedule(created.id);
    expect(job).toMatchObject({
      name: 'nightly-job',
      status: 'queued',
      schedule_id: created.id,
      created_by: { token_id: operator.id, name: 'trigger owner' },
    });
    expect(new Date(job.scheduled_for!).getTime()).toBeGreaterThanOrEqual(before - 1_000);
    expect((await admin().getJob(job.id)).scheduled_for).toBe(job.scheduled_for);

    const after = await admin().getSchedule(created.id);
    expect(after.paused).toBe(true);
    expect(after.last_fires).toEqual([
      {
        scheduled_for: job.scheduled_for,
        fired_at: expect.any(String),
        trigger: 'manual',
        outcome: 'created',
        job_id: job.id,
        job_status: 'queued',
        lateness_seconds: expect.any(Number),
        reason: null,
      },
    ]);
    expect(after.last_fires[0]!.lateness_seconds).toBeLessThan(5);

    const second = await admin().triggerSchedule(created.id);
    expect(second.id).not.toBe(job.id);
    expect((await admin().getSchedule(created.id)).last_fires.map((f) => f.job_id)).toEqual([second.id, job.id]);
  });

  it('fires a 6-field cron every second, one job per slot, and stops while paused', async () => {
    const created = await schedule({ name: 'every second', cron: '* * * * * *', overlap: 'allow' });
    const fired = await eventually(async () => {
      const s = await admin().getSchedule(created.id);
      return s.last_fires.length >= 3 && s;
    });
    const slots = fired.last_fires.map((f) => new Date(f.scheduled_for).getTime()).reverse();
    for (const [i, slot] of slots.entries()) {
      expect(slot % 1000).toBe(0);
      if (i > 0) expect(slot - slots[i - 1]!).toBe(1000);
    }
    for (const fire of fired.last_fires) {
      expect(fire).toMatchObject({ trigger: 'cron', outcome: 'created', job_status: 'queued', reason: null });
      const job = await admin().getJob(fire.job_id!);
      expect(job).toMatchObject({ schedule_id: created.id, scheduled_for: fire.scheduled_for });
    }

    const paused = await admin().updateSchedule(created.id, { paused: true });
    expect(paused).toMatchObject({ paused: true, next_fire_at: null });
    const count = async () =>
      (
        await borg().db.query<{ n: number }>('SELECT count(*)::integer AS n FROM jobs WHERE schedule_id = $1', [
          created.id,
        ])
      ).rows[0]!.n;
    const whilePaused = await count();
    // A witness firing every second: once it has fired twice, the paused one had its chances.
    const witness = await schedule({ name: 'witness', cron: '* * * * * *', overlap: 'allow' });
    await eventually(async () => (await admin().getSchedule(witness.id)).last_fires.length >= 2);
    expect(await count()).toBe(whilePaused);
    await admin().deleteSchedule(witness.id);

    const resumed = await admin().updateSchedule(created.id, { paused: false });
    expect(resumed.paused).toBe(false);
    expect(new Date(resumed.next_fire_at!).getTime()).toBeGreaterThan(Date.now() - 1_000);
    await eventually(async () => (await count()) > whilePaused);
    // Slots that passed while it was paused were not caught up.
    const after = await admin().getSchedule(created.id);
    const pausedAt = new Date(paused.updated_at).getTime();
    const resumedAt = new Date(resumed.updated_at).getTime();
    expect(
      after.last_fires.filter((f) => {
        const t = new Date(f.scheduled_for).getTime();
        return t > pausedAt && t < resumedAt - 1_000;
      }),
    ).toEqual([]);
    await admin().deleteSchedule(created.id);
  });

  it('changes any field by PATCH: a new cron or time zone starts from its next slot', async () => {
    const created = await schedule({ name: 'to change' });
    const changed = await admin().updateSchedule(created.id, {
      cron: '30 2 * * *',
      timezone: 'America/New_York',
      overlap: 'cancel_running',
      catch_up: 'last',
      job: idleJob('changed-job'),
    });
    expect(changed).toMatchObject({
      cron: '30 2 * * *',
      timezone: 'America/New_York',
      overlap: 'cancel_running',
      catch_up: 'last',
      job: { name: 'changed-job' },
    });
    const local = new Intl.DateTimeFormat('en-GB', {
      timeZone: 'America/New_York',
      hour: '2-digit',
      minute: '2-digit',
    }).format(new Date(changed.next_fire_at!));
    expect(local).toBe('02:30');
    // A field that does not move the schedule keeps its next fire.
    expect((await admin().updateSchedule(created.id, { name: 'renamed' })).next_fire_at).toBe(changed.next_fire_at);
  });

  it('is deleted with its fires, and the jobs it made stay, still naming it', async () => {
    const created = await schedule({ name: 'doomed' });
    const job = await admin().triggerSchedule(created.id);
    const deleted = await admin().deleteSchedule(created.id);
    expect(deleted).toMatchObject({ id: created.id, name: 'doomed' });
    await expect(admin().getSchedule(created.id)).rejects.toMatchObject({ status: 404, code: 'SCHEDULE_NOT_FOUND' });
    await expect(admin().deleteSchedule(created.id)).rejects.toMatchObject({ status: 404 });
    await expect(admin().triggerSchedule(created.id)).rejects.toMatchObject({ status: 404 });
    expect((await admin().getJob(job.id)).schedule_id).toBe(created.id);
    const { rows } = await borg().db.query('SELECT 1 FROM schedule_fires WHERE schedule_id = $1', [created.id]);
    expect(rows).toEqual([]);
  });

  it('records a fire that cannot create its job as failed, with the reason, and keeps going', async () => {
    await admin().putSecret('sched-secret', { value: 'shh' });
    const created = await schedule({
      name: 'loses its secret',
      cron: '* * * * * *',
      overlap: 'allow',
      job: { ...idleJob('secretive'), secrets: { TOKEN: 'sched-secret' } },
    });
    await admin().deleteSecret('sched-secret');
    const failed = await eventually(async () => {
      const s = await admin().getSchedule(created.id);
      return s.last_fires.filter((f) => f.outcome === 'failed').length >= 2 && s;
    });
    const fire = failed.last_fires.find((f) => f.outcome === 'failed')!;
    expect(fire).toMatchObject({
      trigger: 'cron',
      job_id: null,
      job_status: null,
      reason: 'unknown secret sched-secret: create it first',
    });
    // It moved on past the failed slots rather than trying them again and again.
    const failedSlots = failed.last_fires.filter((f) => f.outcome === 'failed').map((f) => f.scheduled_for);
    expect(new Set(failedSlots).size).toBe(failedSlots.length);
    await eventually(
      async () =>
        new Date((await admin().getSchedule(created.id)).next_fire_at!).getTime() >
        new Date(fire.scheduled_for).getTime(),
    );
    // By hand, the same failure is the caller's answer, and recorded too.
    await expect(admin().triggerSchedule(created.id)).rejects.toMatchObject({
      status: 400,
      message: 'unknown secret sched-secret: create it first',
    });
    await admin().updateSchedule(created.id, { paused: true });
    const manual = (await admin().getSchedule(created.id)).last_fires.find((f) => f.trigger === 'manual');
    expect(manual).toMatchObject({ outcome: 'failed', reason: 'unknown secret sched-secret: create it first' });
  });

  it("stops submitting once its creator's token is revoked", async () => {
    const operator = await admin().createToken({ name: 'leaver', role: 'operator' });
    const created = await schedule({ name: 'orphan' }, borg().client(operator.token));
    await admin().revokeToken(operator.id);
    await expect(admin().triggerSchedule(created.id)).rejects.toMatchObject({
      status: 403,
      message: expect.stringContaining('the token that created this schedule ("leaver") is revoked or expired'),
    });
    expect((await admin().getSchedule(created.id)).last_fires[0]).toMatchObject({ outcome: 'failed', job_id: null });
  });

  it('cancels the jobs still running before it submits the next, with overlap cancel_running', async () => {
    const created = await schedule({ name: 'latest wins', cron: '* * * * * *', overlap: 'cancel_running' });
    const fired = await eventually(async () => {
      const s = await admin().getSchedule(created.id);
      return s.last_fires.filter((f) => f.outcome === 'created').length >= 3 && s;
    });
    await admin().updateSchedule(created.id, { paused: true });
    const jobs = (await admin().listJobs({ name: 'nightly-job', limit: 500 })).items.filter(
      (j) => j.schedule_id === created.id,
    );
    const newest = fired.last_fires[0]!.job_id;
    // Every job but the newest was cancelled by the fire after it; none two at a time.
    const open = jobs.filter((j) => j.completed_at === null).map((j) => j.id);
    expect(open.length).toBeLessThanOrEqual(1);
    if (open.length === 1) expect([newest, ...jobs.map((j) => j.id)]).toContain(open[0]);
    expect(jobs.filter((j) => j.status === 'cancelled').length).toBeGreaterThanOrEqual(2);
  });

  it('counts fires by outcome and shows how late each schedule last fired in /metrics', async () => {
    const created = await schedule({ name: 'measured', cron: '* * * * * *', overlap: 'allow' });
    await eventually(async () => (await admin().getSchedule(created.id)).last_fires.length >= 2);
    await admin().updateSchedule(created.id, { paused: true });
    const text = await eventually(async () => {
      const response = await rawRequest(borg().url, { path: '/metrics', token: borg().adminToken });
      const body = String(response.body);
      return body.includes(`schedule="${created.id}"`) && body;
    });
    expect(text).toMatch(/borg_schedule_fires_total\{outcome="created",trigger="cron"\} \d+/);
    const line = text.split('\n').find((l) => l.includes(`schedule="${created.id}"`))!;
    expect(line).toMatch(/^borg_schedule_last_fire_lateness_seconds\{schedule="[^"]+",name="measured"\} [\d.e-]+$/);
    expect(Number(line.split(' ').at(-1))).toBeLessThan(5);
  });

  it('resolves a schedule id prefix', async () => {
    const created = await schedule({ name: 'by prefix' });
    const { items } = await admin().resolveIds({ prefix: created.id.slice(0, 8), kind: 'schedule' });
    expect(items).toContainEqual({ kind: 'schedule', id: created.id, name: 'by prefix' });
  });
});

export type { Schedule };
