import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createTestDatabase, type TestDatabase } from '../test-database.ts';
import { eventually } from '../test-solder.ts';
import { MothershipProcess, sleep } from './harness/borg-processes.ts';

/**
 * F20: a thundering herd. 1000 simulated solders (register, then heartbeat at the server's
 * interval with the solder's capped, jittered backoff on failure) lose the mothership to a
 * SIGKILL and all come back at once. The server must not fall over, every agent must be
 * heartbeating again within K seconds, and no runner may be marked offline: the reaper waits one
 * offline window after start. The agents' own loop is written here (not imported from bench/),
 * as the solder's heartbeat loop does it: equal-jitter backoff from 500 ms, capped at the interval.
 */
const AGENTS = 1000;
const HEARTBEAT_SECONDS = 10; // offline after 30 s of silence
const RECOVERY_LIMIT_MS = 60_000;

interface Agent {
  id: string;
  token: string;
  lastOk: number;
  failuresDuringOutage: number;
}

describe('1000 agents reconnecting after a mothership restart (F20)', () => {
  let database: TestDatabase;
  let mothership: MothershipProcess;
  let pool: Pool;
  let running = true;
  const statuses = new Map<string, number>();

  beforeAll(async () => {
    database = await createTestDatabase();
    mothership = await MothershipProcess.start({
      databaseUrl: database.databaseUrl,
      dataDir: database.dataDir,
      heartbeatIntervalSeconds: HEARTBEAT_SECONDS,
      env: { BORG_REGISTRATIONS_PER_MINUTE: '0' }, // every agent registers from this one address
    });
    pool = new Pool(mothership.url, { connections: 128, headersTimeout: 30_000, bodyTimeout: 30_000 });
  });
  afterAll(async () => {
    running = false;
    await pool?.close().catch(() => undefined);
    await mothership?.kill('SIGKILL');
    await database?.drop();
  });

  async function call(method: 'POST' | 'GET', path: string, token: string, body?: unknown) {
    try {
      const answer = await pool.request({
        method,
        path,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await answer.body.text();
      statuses.set(String(answer.statusCode), (statuses.get(String(answer.statusCode)) ?? 0) + 1);
      return { status: answer.statusCode, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
    } catch {
      statuses.set('network', (statuses.get('network') ?? 0) + 1);
      return { status: 0, json: {} };
    }
  }

  function backoffMs(failures: number): number {
    const nominal = Math.min(HEARTBEAT_SECONDS * 1000, 500 * 2 ** failures);
    return nominal / 2 + (Math.random() * nominal) / 2;
  }

  async function heartbeatLoop(agent: Agent, outage: { active: boolean }): Promise<void> {
    let failures = 0;
    await sleep(Math.random() * HEARTBEAT_SECONDS * 1000); // agents start spread out
    while (running) {
      const answer = await call('POST', `/api/v1/runners/${agent.id}/heartbeat`, agent.token, { task_ids: [] });
      if (answer.status === 200) {
        failures = 0;
        agent.lastOk = performance.now();
        await sleep(HEARTBEAT_SECONDS * 1000);
      } else {
        if (outage.active) agent.failuresDuringOutage++;
        await sleep(backoffMs(failures++));
      }
    }
  }

  it('all reconnect within the limit, the server stays up, and no runner is marked offline', async () => {
    const agents: Agent[] = [];
    for (let i = 0; i < AGENTS; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, AGENTS - i) }, async (_, j) => {
          const answer = await call('POST', '/api/v1/runners/register', mothership.registrationToken, {
            device_id: `herd-${i + j}`,
            name: `herd-${i + j}`,
            hostname: 'herd',
            os: 'linux',
            arch: 'x64',
            max_concurrent_tasks: 1,
            labels: { herd: 'yes' },
            resources: {},
          });
          expect(answer.status).toBe(201);
          return { id: String(answer.json.id), token: String(answer.json.token), lastOk: 0, failuresDuringOutage: 0 };
        }),
      );
      agents.push(...batch);
    }
    const outage = { active: false };
    const loops = agents.map((agent) => heartbeatLoop(agent, outage));
    await eventually(() => agents.every((a) => a.lastOk > 0), 60_000, 'every agent to heartbeat once');

    outage.active = true;
    await mothership.kill('SIGKILL');
    await sleep(5_000);
    const restartedAt = performance.now();
    await mothership.boot();
    await eventually(
      () => agents.every((a) => a.lastOk > restartedAt),
      RECOVERY_LIMIT_MS + 20_000,
      'every agent to heartbeat after the restart',
    );
    const recoveryMs = Math.max(...agents.map((a) => a.lastOk)) - restartedAt;
    outage.active = false;
    console.log(
      `F20: ${AGENTS} agents back ${Math.round(recoveryMs)} ms after the restart; answers ${JSON.stringify(Object.fromEntries(statuses))}; ` +
        `most failures of one agent during the outage ${Math.max(...agents.map((a) => a.failuresDuringOutage))}`,
    );
    expect(recoveryMs).toBeLessThan(RECOVERY_LIMIT_MS);
    expect(mothership.alive).toBe(true);
    expect(statuses.get('500') ?? 0).toBe(0);
    // Backoff, not a tight loop: ~10 s of trouble is a handful of tries per agent.
    expect(Math.max(...agents.map((a) => a.failuresDuringOutage))).toBeLessThan(15);

    let offline = 0;
    for (let cursor: string | undefined; ;) {
      const page = await mothership.admin.listRunners({ limit: 200, cursor });
      offline += page.items.filter((r) => r.status === 'offline').length;
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
    expect(offline).toBe(0);
    running = false;
    await Promise.race([Promise.all(loops), sleep(HEARTBEAT_SECONDS * 1000 + 2_000)]);
  }, 240_000);
});
