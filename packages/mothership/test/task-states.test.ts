import { randomUUID } from 'node:crypto';

import {
  REPORTABLE_TASK_STATUSES,
  type Task,
  TASK_STATUSES,
  type TaskStatus,
  type TaskStatusRequest,
} from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { rawRequest, type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';
import {
  canTransition,
  HELD_TASK_STATUSES,
  isRetryableEnding,
  isTerminal,
  LIVE_TASK_STATUSES,
  TASK_TRANSITIONS,
} from '../src/jobs/task-states.ts';

type Reportable = (typeof REPORTABLE_TASK_STATUSES)[number];
const TERMINAL: TaskStatus[] = ['succeeded', 'failed', 'cancelled', 'timed_out', 'lost', 'skipped'];

describe('the task state machine (task-states.ts)', () => {
  it('has an entry for every task status and names only task statuses', () => {
    expect(Object.keys(TASK_TRANSITIONS).sort()).toEqual([...TASK_STATUSES].sort());
    for (const targets of Object.values(TASK_TRANSITIONS)) {
      for (const to of targets) expect(TASK_STATUSES).toContain(to);
    }
  });

  it('has no way out of a terminal state, and terminal states are exactly the endings', () => {
    for (const status of TASK_STATUSES) {
      expect(isTerminal(status)).toBe(TERMINAL.includes(status));
      if (TERMINAL.includes(status)) expect(TASK_TRANSITIONS[status]).toEqual([]);
    }
    for (const from of TERMINAL) for (const to of TASK_STATUSES) expect(canTransition(from, to)).toBe(false);
  });

  it('never moves a state to itself (repeats are the queue’s business, not transitions)', () => {
    for (const status of TASK_STATUSES) expect(canTransition(status, status)).toBe(false);
  });

  it('allows exactly the documented edges', () => {
    const edges = TASK_STATUSES.flatMap((from) =>
      TASK_STATUSES.filter((to) => canTransition(from, to)).map((to) => `${from}->${to}`),
    );
    expect(edges.sort()).toEqual(
      [
        'blocked->pending',
        'blocked->skipped',
        'blocked->cancelled',
        'pending->assigned',
        'pending->cancelled',
        'assigned->running',
        'assigned->failed',
        'assigned->cancelled',
        'assigned->timed_out',
        'assigned->lost',
        'assigned->pending',
        'running->succeeded',
        'running->failed',
        'running->cancelled',
        'running->timed_out',
        'running->lost',
      ].sort(),
    );
  });

  it('requires a claim before running and a start before success', () => {
    expect(canTransition('pending', 'running')).toBe(false);
    expect(canTransition('assigned', 'succeeded')).toBe(false);
    expect(canTransition('running', 'pending')).toBe(false);
  });

  it('reaches every state from blocked or pending, and an ending from every live state', () => {
    const reachable = new Set<TaskStatus>(['blocked', 'pending']);
    for (let grew = true; grew;) {
      grew = false;
      for (const from of [...reachable]) {
        for (const to of TASK_TRANSITIONS[from]) if (!reachable.has(to) && reachable.add(to)) grew = true;
      }
    }
    expect([...reachable].sort()).toEqual([...TASK_STATUSES].sort());
    for (const live of LIVE_TASK_STATUSES) {
      expect(isTerminal(live)).toBe(false);
      expect(TASK_TRANSITIONS[live].some(isTerminal)).toBe(true);
    }
    for (const held of HELD_TASK_STATUSES) expect(LIVE_TASK_STATUSES).toContain(held);
  });

  it('retries failures, timeouts and lost runners, and a cancel only when no one asked for it', () => {
    expect(isRetryableEnding('failed', false)).toBe(true);
    expect(isRetryableEnding('timed_out', false)).toBe(true);
    expect(isRetryableEnding('lost', false)).toBe(true);
    expect(isRetryableEnding('succeeded', false)).toBe(false);
    expect(isRetryableEnding('cancelled', false)).toBe(true); // the runner stopped it (agent_stop)
    expect(isRetryableEnding('cancelled', true)).toBe(false); // a user cancelled the job
  });

  it('lets a runner report neither lost nor the server’s own states', () => {
    expect(REPORTABLE_TASK_STATUSES).not.toContain('lost');
    expect(REPORTABLE_TASK_STATUSES).not.toContain('pending');
    expect(REPORTABLE_TASK_STATUSES).not.toContain('assigned');
  });
});

/** The exit code each ending is reported with, so a repeat can be the very same report. */
const EXIT: Record<Reportable, number | undefined> = {
  running: undefined,
  succeeded: 0,
  failed: 3,
  cancelled: 143,
  timed_out: 124,
};

type Outcome = 'moves' | 'no-op' | 'ILLEGAL_TRANSITION' | 'STALE_TASK';

/**
 * What the holding runner's report does, by the task's state (rows) and the report (columns),
 * written out rather than derived from the code under test. A repeat of the current state is
 * acknowledged and changes nothing; anything after an ending is stale; an illegal move on a live
 * task is refused; a task the server ended (lost) refuses everything.
 */
// prettier-ignore
const EXPECTED: Record<Exclude<TaskStatus, 'pending' | 'blocked' | 'skipped'>, Record<Reportable, Outcome>> = {
  assigned:  { running: 'moves',      succeeded: 'ILLEGAL_TRANSITION', failed: 'moves',      cancelled: 'moves',      timed_out: 'moves' },
  running:   { running: 'no-op',      succeeded: 'moves',              failed: 'moves',      cancelled: 'moves',      timed_out: 'moves' },
  succeeded: { running: 'STALE_TASK', succeeded: 'no-op',              failed: 'STALE_TASK', cancelled: 'STALE_TASK', timed_out: 'STALE_TASK' },
  failed:    { running: 'STALE_TASK', succeeded: 'STALE_TASK',         failed: 'no-op',      cancelled: 'STALE_TASK', timed_out: 'STALE_TASK' },
  cancelled: { running: 'STALE_TASK', succeeded: 'STALE_TASK',         failed: 'STALE_TASK', cancelled: 'no-op',      timed_out: 'STALE_TASK' },
  timed_out: { running: 'STALE_TASK', succeeded: 'STALE_TASK',         failed: 'STALE_TASK', cancelled: 'STALE_TASK', timed_out: 'no-op' },
  lost:      { running: 'STALE_TASK', succeeded: 'STALE_TASK',         failed: 'STALE_TASK', cancelled: 'STALE_TASK', timed_out: 'STALE_TASK' },
};

const report = (status: Reportable): TaskStatusRequest =>
  EXIT[status] === undefined ? { status } : { status, exit_code: EXIT[status] };

describe('task status reports through the API', () => {
  const borg = useTestMothership();
  let me: TestRunner | undefined;
  let other: TestRunner | undefined;

  async function runners(): Promise<{ me: TestRunner; other: TestRunner }> {
    me ??= await borg().registerRunner({ name: 'me', max_concurrent_tasks: 1000 });
    other ??= await borg().registerRunner({ name: 'other', max_concurrent_tasks: 1000 });
    return { me, other };
  }

  /** Submits a one-task job (one attempt) and claims its task for `runner`. */
  async function claimFresh(runner: TestRunner): Promise<string> {
    const job = await borg().admin.createJob({ name: `states-${randomUUID()}`, type: 'shell', command: 'true' });
    const next = await runner.client.nextTasks(runner.id, { wait: 0, max: 1 });
    expect(next?.items[0]?.job_id).toBe(job.id);
    return next!.items[0]!.id;
  }

  /** Brings a fresh task of `me` to `state`, the way it gets there in real life. */
  async function taskIn(state: Exclude<TaskStatus, 'pending' | 'blocked' | 'skipped'>): Promise<string> {
    const { me } = await runners();
    const id = await claimFresh(me);
    if (state === 'assigned') return id;
    await me.client.reportTaskStatus(id, { status: 'running' });
    if (state === 'lost') {
      // What the reaper does when the runner goes silent.
      expect(await borg().services.queue.endTaskByServer(id, { status: 'lost', reason: 'runner_lost' })).toBe(true);
    } else if (state !== 'running') {
      await me.client.reportTaskStatus(id, report(state));
    }
    expect((await taskOf(id)).status).toBe(state);
    return id;
  }

  async function taskOf(id: string): Promise<Task> {
    const { rows } = await borg().db.query<{ job_id: string }>('SELECT job_id FROM tasks WHERE id = $1', [id]);
    const job = await borg().admin.getJob(rows[0]!.job_id);
    return job.tasks.find((t) => t.id === id)!;
  }

  const cases = (Object.keys(EXPECTED) as Array<keyof typeof EXPECTED>).flatMap((from) =>
    REPORTABLE_TASK_STATUSES.map((to) => ({ from, to, outcome: EXPECTED[from][to] })),
  );

  it.each(cases)('$from, then the runner reports $to: $outcome', async ({ from, to, outcome }) => {
    const { me } = await runners();
    const id = await taskIn(from);
    const before = await taskOf(id);
    const sent = me.client.reportTaskStatus(id, report(to));

    if (outcome === 'moves') {
      const answer = await sent;
      expect(answer.task).toMatchObject({ id, status: to, exit_code: EXIT[to] ?? null });
      expect(await taskOf(id)).toMatchObject({ status: to, exit_code: EXIT[to] ?? null });
    } else if (outcome === 'no-op') {
      const answer = await sent;
      expect(answer.task).toEqual(before);
      expect(await taskOf(id)).toEqual(before);
    } else {
      await expect(sent).rejects.toMatchObject({ status: 409, code: outcome });
      expect(await taskOf(id)).toEqual(before);
    }
  });

  it.each(cases)('$from, then $to in a batch of one: $outcome, answered as the single report is', async (c) => {
    const { me } = await runners();
    const id = await taskIn(c.from);
    const before = await taskOf(id);
    const { results } = await me.client.reportTaskStatuses(me.id, { reports: [{ task_id: id, ...report(c.to) }] });

    if (c.outcome === 'moves') {
      expect(results).toEqual([{ task_id: id, status: c.to, cancel_requested: false }]);
      expect(await taskOf(id)).toMatchObject({ status: c.to, exit_code: EXIT[c.to] ?? null });
    } else if (c.outcome === 'no-op') {
      expect(results).toEqual([{ task_id: id, status: c.from, cancel_requested: false }]);
      expect(await taskOf(id)).toEqual(before);
    } else {
      expect(results).toEqual([{ task_id: id, error: { code: c.outcome, message: expect.any(String) } }]);
      expect(await taskOf(id)).toEqual(before);
    }
  });

  it('acknowledges a repeated success without a second change or event (F17a)', async () => {
    const { me } = await runners();
    const id = await taskIn('running');
    const events: string[] = [];
    const off = borg().mothership.bus.on('task.updated', (e) => e.task.id === id && events.push(e.task.status));
    try {
      const first = await me.client.reportTaskStatus(id, { status: 'succeeded', exit_code: 0 });
      const second = await me.client.reportTaskStatus(id, { status: 'succeeded', exit_code: 0 });
      expect(second.task).toEqual(first.task);
      expect(events).toEqual(['succeeded']);
    } finally {
      off();
    }
  });

  it('refuses a success with another exit code, or a failure, after a success (F17b)', async () => {
    const { me } = await runners();
    const id = await taskIn('succeeded');
    for (const late of [
      { status: 'succeeded', exit_code: 1 },
      { status: 'failed', exit_code: 1 },
    ] as const) {
      await expect(me.client.reportTaskStatus(id, late)).rejects.toMatchObject({ status: 409, code: 'STALE_TASK' });
    }
    expect(await taskOf(id)).toMatchObject({ status: 'succeeded', exit_code: 0 });
  });

  it('refuses another runner’s task with 403 and leaves it alone', async () => {
    const { other } = await runners();
    for (const state of ['assigned', 'running', 'succeeded'] as const) {
      const id = await taskIn(state);
      const before = await taskOf(id);
      for (const status of REPORTABLE_TASK_STATUSES) {
        await expect(other.client.reportTaskStatus(id, report(status))).rejects.toMatchObject({
          status: 403,
          code: 'FORBIDDEN',
        });
      }
      await expect(other.client.appendTaskLogs(id, { seq: 0, lines: [] })).rejects.toMatchObject({ status: 403 });
      expect(await taskOf(id)).toEqual(before);
    }
  });

  it('refuses a report on a pending task that no runner holds (403): a task must be claimed first', async () => {
    const { me } = await runners();
    const job = await borg().admin.createJob({
      name: 'never-claimed',
      type: 'shell',
      command: 'true',
      labels: { nobody: 'has-this' },
    });
    const id = (await borg().admin.getJob(job.id)).tasks[0]!.id;
    await expect(me.client.reportTaskStatus(id, { status: 'running' })).rejects.toMatchObject({ status: 403 });
    expect((await taskOf(id)).status).toBe('pending');
    await borg().admin.cancelJob(job.id);
  });

  it('refuses the log lines of a task the server took back (lost) with 409', async () => {
    const { me } = await runners();
    const id = await taskIn('lost');
    await expect(
      me.client.appendTaskLogs(id, { seq: 0, lines: [{ stream: 'stdout', message: 'too late' }] }),
    ).rejects.toMatchObject({ status: 409, code: 'STALE_TASK' });
    expect((await borg().admin.getTaskLogs(id)).items).toEqual([]);
  });

  it('answers 404 for an unknown task and 400 for a runner claiming to have lost one', async () => {
    const { me } = await runners();
    await expect(me.client.reportTaskStatus(randomUUID(), { status: 'running' })).rejects.toMatchObject({
      status: 404,
      code: 'TASK_NOT_FOUND',
    });
    const id = await taskIn('running');
    const lost = await rawRequest(borg().url, {
      method: 'POST',
      path: `/api/v1/tasks/${id}/status`,
      token: me.token,
      body: JSON.stringify({ status: 'lost' }),
    });
    expect(lost.status).toBe(400);
    expect((await taskOf(id)).status).toBe('running');
  });

  it('takes status reports from runner tokens only (a user token gets 403)', async () => {
    const id = await taskIn('running');
    await expect(borg().admin.reportTaskStatus(id, { status: 'succeeded', exit_code: 0 })).rejects.toMatchObject({
      status: 403,
    });
    expect((await taskOf(id)).status).toBe('running');
  });
});
