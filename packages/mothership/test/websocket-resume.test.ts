import { randomUUID } from 'node:crypto';

import type { Runner, ServerMessage } from '@borg/protocol';
import { afterEach, describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { DEFAULT_RECENT_EVENTS_LIMITS } from '../src/live/recent-events.ts';
import { MAX_REPLAY_BYTES } from '../src/live/websocket-hub.ts';
import { type LiveClient, upgrade } from './live-client.ts';

/**
 * Resuming topics after a reconnect (`subscribe` with `since`): the client gets the events it
 * missed, in order, or `resync` for a topic whose events it cannot be given.
 */

type Subscribed = Extract<ServerMessage, { type: 'subscribed' }>;
type Resync = Extract<ServerMessage, { type: 'resync' }>;

const seqOf = (id: string) => Number(id.split('.')[1]);
const isEvent = (m: ServerMessage): m is Extract<ServerMessage, { data: unknown; topic: string }> => 'data' in m;

describe('resuming WebSocket topics', () => {
  const borg = useTestMothership();
  const open: LiveClient[] = [];

  async function connect(): Promise<LiveClient> {
    const url = `${borg().url.replace(/^http/, 'ws')}/ws`;
    const result = await upgrade(url, { headers: { authorization: `Bearer ${borg().adminToken}` } });
    if (!result.opened) throw new Error(`upgrade refused with ${result.status}: ${result.body}`);
    open.push(result.client);
    return result.client;
  }

  /** Subscribes (resuming `since`) and waits for `subscribed`; returns it. */
  async function subscribe(live: LiveClient, topics: string[], since?: Record<string, string>): Promise<Subscribed> {
    const count = live.received.length;
    live.send({ type: 'subscribe', topics, ...(since ? { since } : {}) });
    return live.waitFor(
      (m): m is Subscribed => m.type === 'subscribed' && live.received.indexOf(m) >= count,
      `subscribed to ${topics}`,
    );
  }

  /** The id of the last message carrying one: where the client stands. */
  const lastId = (live: LiveClient) => live.received.findLast((m) => 'id' in m && m.id !== undefined) as { id: string };

  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close()));
  });

  async function runningTask() {
    const labels = { suite: randomUUID() };
    const runner = await borg().registerRunner({ labels });
    await borg().admin.createJob({ name: 'resumed', type: 'shell', command: 'echo', labels });
    const task = (await runner.client.nextTasks(runner.id, { wait: 0 }))!.items[0]!;
    await runner.client.reportTaskStatus(task.id, { status: 'running' });
    return { runner, task };
  }

  it('sends exactly the events missed while disconnected, in order, before `subscribed`, and no snapshot again', async () => {
    const { runner, task } = await runningTask();
    const topics = [`task:${task.id}`, 'runners'];
    // A witness stays connected throughout: what it gets after the drop is what was missed.
    const witness = await connect();
    await subscribe(witness, topics);

    const first = await connect();
    await subscribe(first, topics);
    await first.waitFor((m) => m.type === 'task.updated', 'the current state');
    await runner.client.appendTaskLogs(task.id, { seq: 0, lines: [{ stream: 'stdout', message: 'before' }] });
    await first.waitFor((m) => m.type === 'task.log', 'the first line');
    await first.close();
    const since = lastId(first).id;

    await runner.client.appendTaskLogs(task.id, { seq: 1, lines: [{ stream: 'stdout', message: 'missed 1' }] });
    await runner.client.heartbeat(runner.id, { status: 'online' });
    await runner.client.appendTaskLogs(task.id, { seq: 2, lines: [{ stream: 'stderr', message: 'missed 2' }] });
    await borg().admin.createJob({ name: 'on another topic', type: 'shell', command: 'true' });
    await witness.roundTrip();
    const missed = witness.received.filter(isEvent).filter((m) => m.id !== undefined && seqOf(m.id) > seqOf(since));
    expect(missed.map((m) => m.type)).toEqual(['task.log', 'runner.updated', 'task.log']);

    const again = await connect();
    const subscribed = await subscribe(again, topics, { [`task:${task.id}`]: since, runners: since });
    const replayed = again.received.slice(0, again.received.indexOf(subscribed));
    expect(replayed).toEqual(missed);
    const ids = missed.map((m) => seqOf(m.id!));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    // Events keep coming after it, and a resumed task topic is not sent its current state again.
    await runner.client.appendTaskLogs(task.id, { seq: 3, lines: [{ stream: 'stdout', message: 'after' }] });
    await again.waitFor((m) => m.type === 'task.log' && m.data.lines[0]?.message === 'after', 'the next line');
    expect(again.received.filter((m) => m.type === 'task.updated')).toEqual([]);
    expect(again.received.filter((m) => m.type === 'resync')).toEqual([]);
  });

  it('resyncs a topic whose missed events were dropped from the buffer, then sends its new events', async () => {
    const runner = await borg().registerRunner();
    const first = await connect();
    const { id: since } = await subscribe(first, ['runners']);
    await first.close();

    // More events than the replica holds, as if other replicas had sent them.
    const view = (await borg().admin.listRunners()).items.find((r) => r.id === runner.id) as Runner;
    for (let i = 0; i <= DEFAULT_RECENT_EVENTS_LIMITS.maxEvents; i++) {
      borg().mothership.bus.deliver({ type: 'runner.updated', runner: view });
    }

    const again = await connect();
    const subscribed = await subscribe(again, ['runners'], { runners: since! });
    expect(again.received.slice(0, again.received.indexOf(subscribed))).toEqual([
      { type: 'resync', topic: 'runners', reason: 'too_old' },
    ]);
    await runner.client.heartbeat(runner.id, {});
    await again.waitFor((m) => m.type === 'runner.updated', 'a new event');
  });

  it('resyncs a topic whose missed events are more than a client may be sent at once', async () => {
    const { task } = await runningTask();
    const first = await connect();
    const { id: since } = await subscribe(first, [`task:${task.id}`]);
    await first.close();
    const line = {
      index: 0,
      stream: 'stdout' as const,
      message: 'x'.repeat(500_000),
      timestamp: new Date().toISOString(),
    };
    for (let i = 0; i * 500_000 <= MAX_REPLAY_BYTES; i++) {
      borg().mothership.bus.deliver({ type: 'task.log', task_id: task.id, lines: [{ ...line, index: i }] });
    }

    const again = await connect();
    await subscribe(again, [`task:${task.id}`], { [`task:${task.id}`]: since! });
    await again.waitFor((m) => m.type === 'task.updated', 'the current state, as for a new subscription');
    expect(again.received.filter((m) => m.type === 'resync' || m.type === 'task.log')).toEqual([
      { type: 'resync', topic: `task:${task.id}`, reason: 'too_large' },
    ]);
  });

  it("resyncs an id of another replica or of before a restart (another epoch), and one past this replica's newest", async () => {
    const live = await connect();
    const { id } = await subscribe(live, ['runners']);
    const [epoch, seq] = id!.split('.');
    const resyncs = await subscribe(live, ['jobs', 'runners'], {
      jobs: `other${epoch}.${seq}`,
      runners: `${epoch}.99999999`,
    });
    expect(resyncs).toMatchObject({ topics: ['jobs', 'runners'] });
    const answers = live.received.filter((m): m is Resync => m.type === 'resync');
    expect(answers).toEqual([
      { type: 'resync', topic: 'jobs', reason: 'unknown_epoch' },
      { type: 'resync', topic: 'runners', reason: 'unknown_epoch' },
    ]);
  });

  it('refuses `since` naming a topic not subscribed, or an id of the wrong shape, and subscribes to nothing', async () => {
    const live = await connect();
    const { id } = await subscribe(live, ['jobs']);
    live.send({ type: 'subscribe', topics: ['runners'], since: { jobs: id } });
    live.send({ type: 'subscribe', topics: ['runners'], since: { runners: 'not an id' } });
    await live.roundTrip();
    const errors = live.received.filter((m) => m.type === 'error');
    expect(errors).toMatchObject([
      { error: { code: 'VALIDATION_FAILED', message: 'since: jobs is not one of the topics subscribed' } },
      { error: { code: 'VALIDATION_FAILED', message: expect.stringMatching(/^since\.runners: /) } },
    ]);
    expect(live.received.filter((m) => m.type === 'subscribed')).toHaveLength(1);
  });

  it('gives a client without `since` what it always got, with ids that increase on each topic', async () => {
    const { runner, task } = await runningTask();
    const live = await connect();
    const subscribed = await subscribe(live, [`task:${task.id}`]);
    expect(subscribed.id).toMatch(/^[A-Za-z0-9_-]+\.\d+$/);
    const current = await live.waitFor((m) => m.type === 'task.updated', 'the current state');
    expect(current).not.toHaveProperty('id');
    for (let seq = 0; seq < 3; seq++) {
      await runner.client.appendTaskLogs(task.id, { seq, lines: [{ stream: 'stdout', message: `line ${seq}` }] });
    }
    await live.roundTrip();
    const logs = live.received.filter((m) => m.type === 'task.log');
    expect(logs.map((m) => m.data.lines[0]!.message)).toEqual(['line 0', 'line 1', 'line 2']);
    const seqs = [subscribed, ...logs].map((m) => seqOf(m.id!));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
  });
});
