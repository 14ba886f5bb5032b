import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BorgClient, ServerMessage } from '@borg/protocol';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';

import { ENGINE } from '../../../test/test-database.ts';
import { useTestMothership } from '../../../test/test-mothership.ts';
import { loadConfig } from '../src/config.ts';
import { type Mothership, startMothership } from '../src/mothership.ts';

/**
 * Scale-out: several mothership replicas over one PostgreSQL database. Events cross replicas
 * through LISTEN/NOTIFY (large ones by reference), and maintenance runs on one replica at a
 * time under an advisory lock.
 *
 * PostgreSQL only: the embedded engine (PGlite) belongs to one process (its data directory is
 * locked), so there is no second replica to start, no NOTIFY between processes and no shared
 * advisory lock to contend for.
 */
describe.skipIf(ENGINE !== 'postgres')('two mothership replicas on one PostgreSQL database', () => {
  const borg = useTestMothership(); // replica A
  let b: Mothership; // replica B
  let bUrl = '';
  let bDataDir = '';

  beforeAll(async () => {
    bDataDir = await mkdtemp(join(tmpdir(), 'borg-replica-b-'));
    b = await startMothership(
      loadConfig(
        {
          host: '127.0.0.1',
          port: 0,
          databaseUrl: borg().database.databaseUrl,
          dataDir: bDataDir,
          adminToken: borg().adminToken,
          registrationToken: borg().registrationToken,
          logLevel: 'silent',
          retryBaseDelayMs: 0,
        },
        {},
      ),
      { maintenance: false },
    );
    bUrl = await b.listen();
  });

  afterAll(async () => {
    await b?.close();
    if (bDataDir) await rm(bDataDir, { recursive: true, force: true });
  });

  const admin = () => borg().admin; // talks to A

  /** A WebSocket client on replica B (or another) that keeps what it receives. */
  async function watchOnB(topics: string[], since?: Record<string, string>, url = bUrl) {
    const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, {
      headers: { authorization: `Bearer ${borg().adminToken}` },
    });
    const received: ServerMessage[] = [];
    socket.on('message', (data) => received.push(ServerMessage.parse(JSON.parse(data.toString()))));
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    socket.send(JSON.stringify({ type: 'subscribe', topics, since }));
    await expect.poll(() => received.some((m) => m.type === 'subscribed'), { timeout: 5_000 }).toBe(true);
    return {
      received,
      close: () =>
        new Promise<void>((resolve) => {
          socket.once('close', () => resolve());
          socket.close();
        }),
    };
  }

  it('hands a job submitted on A to a runner long-polling on B, well within its wait (woken through NOTIFY)', async () => {
    const labels = { suite: randomUUID() };
    const runner = await borg().registerRunner({ labels });
    const onB = new BorgClient({ baseUrl: bUrl, token: runner.token });

    const waitSeconds = 10;
    let settled = false;
    const poll = onB.nextTasks(runner.id, { wait: waitSeconds }).finally(() => (settled = true));
    // Parked on B: its own first read is over, so only a wake-up can answer it.
    await expect.poll(() => b.services.dispatcher.parked, { timeout: 5_000 }).toBe(1);
    expect(settled).toBe(false);

    const submittedAt = performance.now();
    const job = await admin().createJob({ name: 'cross-replica', type: 'shell', command: 'true', labels });
    const next = await poll;
    // Maintenance (which would nudge idle queues every few seconds) runs on neither replica here:
    // only the event from A can have woken B's runner.
    expect(next?.items.map((t) => t.job_id)).toEqual([job.id]);
    expect(performance.now() - submittedAt).toBeLessThan((waitSeconds * 1000) / 4);
  });

  it('shows a WebSocket client on B the job.updated of a job created on A', async () => {
    const live = await watchOnB(['jobs']);
    try {
      const job = await admin().createJob({
        name: 'seen-on-b',
        type: 'shell',
        command: 'true',
        labels: { suite: randomUUID() },
      });
      const seen = await vi.waitFor(() => {
        const found = live.received.find((m) => m.type === 'job.updated' && m.data.id === job.id);
        if (!found) throw new Error('no job.updated on B yet');
        return found;
      }, 5_000);
      expect(seen).toMatchObject({ topic: 'jobs', data: { name: 'seen-on-b', status: 'queued' } });
    } finally {
      await live.close();
    }
  });

  it('resumes a topic on the replica whose id the client holds, and resyncs it on another one', async () => {
    const first = await watchOnB(['jobs']);
    const subscribed = first.received.find((m) => m.type === 'subscribed');
    const since = { jobs: (subscribed as { id: string }).id };
    await first.close();
    const job = await admin().createJob({ name: 'missed-on-b', type: 'shell', command: 'true' });
    // Created on A: B hears of it through NOTIFY.
    const heardOnB = () => [...b.hub.recent.after(0)].some((e) => e.type === 'job.updated' && e.data.includes(job.id));
    await expect.poll(heardOnB, { timeout: 5_000 }).toBe(true);

    const resumed = await watchOnB(['jobs'], since);
    const onA = await watchOnB(['jobs'], since, borg().url);
    try {
      const beforeAck = (live: { received: ServerMessage[] }) =>
        live.received.slice(
          0,
          live.received.findIndex((m) => m.type === 'subscribed'),
        );
      expect(beforeAck(resumed)).toContainEqual(
        expect.objectContaining({ type: 'job.updated', topic: 'jobs', data: expect.objectContaining({ id: job.id }) }),
      );
      expect(beforeAck(resumed).some((m) => m.type === 'resync')).toBe(false);
      expect(beforeAck(onA)).toEqual([{ type: 'resync', topic: 'jobs', reason: 'unknown_epoch' }]);
    } finally {
      await resumed.close();
      await onA.close();
    }
  });

  it('carries an event too big for NOTIFY (over 8000 bytes) to B by reference, complete', async () => {
    const live = await watchOnB(['jobs']);
    try {
      const env: Record<string, string> = {};
      for (let i = 0; i < 20; i++) env[`BIG_${i}`] = `${i}`.padEnd(1_000, 'x'); // ~20 KB of env
      const job = await admin().createJob({
        name: 'big',
        type: 'shell',
        command: 'true',
        env,
        labels: { suite: randomUUID() },
      });
      expect(Buffer.byteLength(JSON.stringify(job))).toBeGreaterThan(8_000);

      const seen = await vi.waitFor(() => {
        const found = live.received.find((m) => m.type === 'job.updated' && m.data.id === job.id);
        if (!found) throw new Error('no big job.updated on B yet');
        return found;
      }, 5_000);
      expect(seen?.type === 'job.updated' && seen.data.env).toEqual(env);
    } finally {
      await live.close();
    }
  });

  it('lets only one replica hold the maintenance lock at a time, and the other take over when it lets go', async () => {
    const a = borg().mothership.maintenance;
    await a.tick();
    await b.maintenance.tick();
    expect([a.isLeader, b.maintenance.isLeader]).toEqual([true, false]);
    // Trying again changes nothing: the lock is held, not re-won each round.
    await b.maintenance.tick();
    await a.tick();
    expect([a.isLeader, b.maintenance.isLeader]).toEqual([true, false]);

    await a.stop(); // A steps down (as on shutdown): its lock is released
    expect(a.isLeader).toBe(false);
    await b.maintenance.tick();
    expect(b.maintenance.isLeader).toBe(true);
    await a.tick(); // A tries again while B leads
    expect([a.isLeader, b.maintenance.isLeader]).toEqual([false, true]);
  });
});
