import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { Agent } from '../src/agent.ts';
import { loadSolderConfig, type SolderConfig } from '../src/config.ts';
import { SolderFatalError } from '../src/solder-fatal-error.ts';
import { FakeMothership, fault, type RecordedRequest } from './fake-mothership.ts';

/** The deadline of one API call in these tests (the default is 30 s), so a hang costs seconds. */
const REQUEST_TIMEOUT_MS = 1_500;

interface Started {
  agent: Agent;
  logged: string[];
}

describe('a solder under faults of a scripted mothership', () => {
  let fake: FakeMothership;
  let dir: string;
  let started: Started[];

  beforeEach(async () => {
    fake = await FakeMothership.start({ heartbeatIntervalSeconds: 1 });
    dir = await mkdtemp(join(tmpdir(), 'borg-agent-faults-'));
    await chmod(dir, 0o777); // tasks write here too, and under a root solder they run as another user
    started = [];
  });
  afterEach(async () => {
    fake.clearFaults();
    const stopping = started.map(({ agent }) => agent.stop({ cancelRunning: true }).catch(() => undefined));
    await Promise.race([Promise.all(stopping), new Promise((resolve) => setTimeout(resolve, 10_000))]);
    await fake.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function makeAgent(settings: Partial<Record<keyof SolderConfig, unknown>> = {}): Promise<Started> {
    const config = await loadSolderConfig(
      {
        mothership: fake.url,
        registrationToken: fake.registrationToken,
        stateDir: join(dir, `solder-${started.length}`),
        maxConcurrentTasks: 1,
        longPollSeconds: 1,
        cancelGracePeriod: 1,
        ...settings,
      },
      {},
    );
    const logged: string[] = [];
    const agent = new Agent(config, {
      log: (message, fields) => logged.push(`${message} ${JSON.stringify(fields ?? {})}`),
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    });
    const made = { agent, logged };
    started.push(made);
    return made;
  }

  async function startAgent(settings: Partial<Record<keyof SolderConfig, unknown>> = {}): Promise<Started> {
    const made = await makeAgent(settings);
    await made.agent.start();
    return made;
  }

  /** Waits until the fake has seen `count` requests to a route (matching `when`). */
  async function requestsSeen(
    route: RecordedRequest['route'],
    count: number,
    when = (_: RecordedRequest) => true,
    timeout = 20_000,
  ): Promise<void> {
    await expect
      .poll(() => fake.requests.filter((r) => r.route === route && when(r)).length, {
        timeout,
        message: `${count} ${route} request(s)`,
      })
      .toBeGreaterThanOrEqual(count);
  }

  async function succeeds(command: string): Promise<void> {
    const task = fake.submit({ command });
    await expect.poll(() => fake.statusesOf(task.id), { timeout: 20_000 }).toContain('succeeded');
  }

  /** The pid a task's shell wrote to `file`, once it is there. */
  function pidIn(file: string): Promise<number> {
    return vi.waitFor(
      () => {
        const pid = Number(readFileSync(file, 'utf8'));
        expect(pid, `a pid in ${file}`).toBeGreaterThan(0);
        return pid;
      },
      { timeout: 20_000 },
    );
  }

  /** Nothing more arrives about a task for a while (a few heartbeats and claim rounds). */
  async function quietAbout(taskId: string, agent: Agent): Promise<number> {
    await expect.poll(() => agent.activeTasks, { timeout: 10_000, message: 'the task to be dropped' }).toBe(0);
    const before = fake.requests.filter((r) => r.taskId === taskId).length;
    await requestsSeen('heartbeat', fake.requestsTo('heartbeat').length + 2);
    return fake.requests.filter((r) => r.taskId === taskId).length - before;
  }

  function alive(pid: number): boolean {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  it('retries 500, 503 + Retry-After, resets, truncated answers and a hung long-poll with backoff, and carries on', async () => {
    fake.inject('register', fault.status(503, 'DATABASE_UNAVAILABLE', { retryAfterSeconds: 1 }));
    fake.inject('register', fault.reset);
    for (const f of [fault.status(500), fault.status(503), fault.reset, fault.hang]) fake.inject('next', f);
    for (const f of [fault.status(500), fault.truncate, fault.hang, fault.reset]) fake.inject('heartbeat', f);
    fake.inject('status', fault.truncate, { when: (r) => (r.body as { status: string }).status === 'succeeded' });
    fake.inject('logs', fault.status(429, 'RATE_LIMITED', { retryAfterSeconds: 1 }));
    fake.inject('logs', fault.status(503));
    await startAgent();
    expect(fake.requestsTo('register')).toHaveLength(3);

    // Every injected claim fault is met, one request each, and the claims go on afterwards.
    // Four backoffs in a row (up to 0.5 + 1 + 2 + 4 s), the hang's deadline and a long-poll: up
    // to ~10 s on a quiet machine (8 s seen), so the wait allows for a loaded CI machine.
    await requestsSeen('next', 6, undefined, 40_000);
    const claims = fake.requestsTo('next').slice(0, 5);
    const gaps = claims.slice(1).map((r, i) => r.at - claims[i]!.at);
    // Backoff, not a tight loop: each retry waited (jittered, from 250 ms up), the hang its deadline.
    for (const gap of gaps) expect(gap).toBeGreaterThan(200);
    expect(gaps[3]).toBeGreaterThan(REQUEST_TIMEOUT_MS);
    await requestsSeen('heartbeat', 6);

    // A task handed out afterwards runs; its result survives a truncated answer (sent again).
    const task = fake.submit({ command: 'echo hello; echo world >&2' });
    await expect.poll(() => fake.statusesOf(task.id), { timeout: 20_000 }).toHaveLength(3);
    expect(fake.statusesOf(task.id)).toEqual(['running', 'succeeded', 'succeeded']);
    expect(fake.linesOf(task.id)).toEqual([
      { stream: 'stdout', message: 'hello' },
      { stream: 'stderr', message: 'world' },
    ]);
  }, 90_000);

  it('kills a task whose `running` report is answered 409 within a second of the answer, and says nothing more', async () => {
    const { agent } = await startAgent();
    const pidFile = join(dir, 'pid');
    const task = fake.submit({ command: `echo $$ > ${pidFile}; exec sleep 600` });
    const isRunning = (r: RecordedRequest) =>
      r.taskId === task.id && (r.body as { status: string }).status === 'running';
    // The process starts beside its report; the refusal comes a second later, when it is up.
    fake.inject('statuses', fault.lateAnswer(1_000), { when: (r) => JSON.stringify(r.body).includes(task.id) });
    fake.inject('status', fault.status(409, 'STALE_TASK'), { when: isRunning });
    const pid = await pidIn(pidFile);
    await requestsSeen('status', 1, isRunning);
    const answeredAt = fake.requests.find(isRunning)!.at + 1_000;
    await expect
      .poll(() => alive(pid), { timeout: 10_000, interval: 20, message: 'the task to be killed' })
      .toBe(false);
    expect(performance.now() - answeredAt).toBeLessThan(1_000);
    expect(await quietAbout(task.id, agent)).toBe(0);
    expect(fake.requests.filter((r) => r.taskId === task.id && r.route === 'status')).toHaveLength(1);
    await succeeds('true'); // and the solder takes the next one
  });

  it('reports nothing about a short task whose `running` is refused after the task ended', async () => {
    const { agent } = await startAgent();
    const task = fake.submit({ command: 'true' });
    const isRunning = (r: RecordedRequest) =>
      r.taskId === task.id && (r.body as { status: string }).status === 'running';
    fake.inject('statuses', fault.lateAnswer(500), { when: (r) => JSON.stringify(r.body).includes(task.id) });
    fake.inject('status', fault.status(409, 'STALE_TASK'), { when: isRunning });
    await requestsSeen('status', 1, isRunning);
    expect(await quietAbout(task.id, agent)).toBe(0);
    // Its ending was refused with the `running` (sent together) or never sent: nothing was stored.
    expect(fake.statusesOf(task.id)).toEqual([]);
    await succeeds('true');
  });

  it('sends the reports of tasks that run together in shared requests, each task’s in order', async () => {
    const tasks = Array.from({ length: 4 }, () => fake.submit({ command: 'true' }));
    // The first batch is answered late, so the reports made meanwhile wait and leave together.
    fake.inject('statuses', fault.lateAnswer(300));
    await startAgent({ maxConcurrentTasks: 4 });
    for (const task of tasks) {
      await expect.poll(() => fake.statusesOf(task.id), { timeout: 20_000 }).toEqual(['running', 'succeeded']);
    }
    const sizes = fake.requestsTo('statuses').map((r) => (r.body as { reports: unknown[] }).reports.length);
    expect(Math.max(...sizes)).toBeGreaterThanOrEqual(2);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(8);
    expect(fake.requestsTo('status').every((r) => r.inBatch)).toBe(true); // none on the single route
  });

  it('sends its reports one by one to a mothership without the batch route', async () => {
    fake.batchReports = false;
    const { logged } = await startAgent();
    await succeeds('echo one');
    await succeeds('echo two');
    expect(fake.requestsTo('statuses')).toHaveLength(1); // asked once, then never again
    expect(fake.requestsTo('status').filter((r) => r.inBatch)).toEqual([]);
    expect(fake.requestsTo('status')).toHaveLength(4);
    expect(logged.join('\n')).toContain('no batch route');
  });

  it('sends its log batches packed, and one object a line to a mothership that refuses the packed form', async () => {
    const { logged } = await startAgent();
    const first = fake.submit({ command: 'echo one; echo two >&2' });
    await expect.poll(() => fake.statusesOf(first.id), { timeout: 20_000 }).toContain('succeeded');
    expect(fake.batchFormsOf(first.id).every((packed) => packed)).toBe(true);
    expect(fake.linesOf(first.id)).toEqual([
      { stream: 'stdout', message: 'one' },
      { stream: 'stderr', message: 'two' },
    ]);

    fake.packedLogs = false;
    const second = fake.submit({ command: 'echo three' });
    await expect.poll(() => fake.statusesOf(second.id), { timeout: 20_000 }).toContain('succeeded');
    expect(fake.batchFormsOf(second.id)).toEqual([false]); // the refused batch, sent again at once
    expect(fake.linesOf(second.id)).toEqual([{ stream: 'stdout', message: 'three' }]);
    expect(logged.join('\n')).toContain('does not take packed log batches');
  });

  it('does not retry a final report answered 409, and goes on to the next task', async () => {
    const { agent } = await startAgent();
    const task = fake.submit({ command: 'exit 3' });
    fake.inject('status', fault.status(409, 'STALE_TASK'), {
      when: (r) => r.taskId === task.id && (r.body as { status: string }).status === 'failed',
    });
    await requestsSeen('status', 2, (r) => r.taskId === task.id);
    expect(await quietAbout(task.id, agent)).toBe(0);
    await succeeds('true');
  });

  it('kills a running task whose log batch is refused (409 STALE_TASK), and reports nothing more about it', async () => {
    const { agent } = await startAgent();
    const pidFile = join(dir, 'pid');
    const task = fake.submit({ command: `echo $$ > ${pidFile}; while true; do echo tick; sleep 0.1; done` });
    const pid = await pidIn(pidFile);
    await requestsSeen('logs', 2, (r) => r.taskId === task.id);
    fake.inject('logs', fault.status(409, 'STALE_TASK'), { when: (r) => r.taskId === task.id });
    await expect.poll(() => alive(pid), { timeout: 10_000, message: 'the task process to be killed' }).toBe(false);
    expect(await quietAbout(task.id, agent)).toBe(0);
    expect(fake.statusesOf(task.id)).toEqual(['running']);
  });

  it('kills a task the heartbeat answer abandons, and reports nothing more about it', async () => {
    const { agent } = await startAgent();
    const pidFile = join(dir, 'pid');
    const task = fake.submit({ command: `echo $$ > ${pidFile}; exec sleep 600` });
    const pid = await pidIn(pidFile);
    const listsTheTask = (r: RecordedRequest) => JSON.stringify(r.body).includes(task.id);
    await requestsSeen('heartbeat', 1, listsTheTask);
    const endedAt = performance.now();
    fake.endTask(task.id); // the server gave the task away: the next heartbeat says abandon it
    await expect.poll(() => alive(pid), { timeout: 10_000, message: 'the task process to be killed' }).toBe(false);
    // The kill answered a heartbeat that listed the task after the server had ended it.
    const listedAfterTheEnd = fake.requestsTo('heartbeat').filter((r) => r.at >= endedAt && listsTheTask(r));
    expect(listedAfterTheEnd).not.toHaveLength(0);
    expect(await quietAbout(task.id, agent)).toBe(0);
    expect(fake.statusesOf(task.id)).toEqual(['running']);
  });

  it('registers again after a 401 on a heartbeat and carries on with the new token', async () => {
    await startAgent();
    const firstToken = fake.runnerToken!;
    fake.inject('heartbeat', fault.status(401, 'UNAUTHORIZED'));
    await requestsSeen('register', 2);
    await succeeds('echo after re-registration');
    const latest = `Bearer ${fake.runnerToken}`;
    expect(latest).not.toBe(`Bearer ${firstToken}`);
    await requestsSeen('heartbeat', 2, (r) => r.authorization === latest);
  });

  it('runs a task handed out while it re-registers: calls that raced the new token are sent again with it', async () => {
    await startAgent();
    await requestsSeen('next', 1);
    // The registration takes effect at once (the old token stops working), its answer comes 1 s later.
    fake.inject('register', fault.lateAnswer(1_000));
    fake.inject('heartbeat', fault.status(401, 'UNAUTHORIZED'));
    await requestsSeen('register', 2);
    const task = fake.submit({ command: 'echo raced' }); // to the long-poll still held with the old token
    await expect.poll(() => fake.statusesOf(task.id), { timeout: 20_000 }).toContain('succeeded');
    expect(fake.statusesOf(task.id)).toEqual(['running', 'succeeded']);
    expect(fake.linesOf(task.id).map((l) => l.message)).toEqual(['raced']);
    expect(fake.requestsTo('register')).toHaveLength(2); // the stale 401s set off no second registration
  });

  it('refuses to start when registration is answered 401 or 403 (SolderFatalError)', async () => {
    fake.inject('register', fault.status(401, 'UNAUTHORIZED'));
    await expect((await makeAgent()).agent.start()).rejects.toBeInstanceOf(SolderFatalError);
    fake.inject('register', fault.status(403, 'FORBIDDEN'));
    await expect((await makeAgent()).agent.start()).rejects.toBeInstanceOf(SolderFatalError);
    expect(fake.requestsTo('heartbeat')).toHaveLength(0);
    expect(fake.requestsTo('next')).toHaveLength(0);
  });

  it('falls back to the 5 s poll when every long-poll is answered 204 at once, and still takes work', async () => {
    fake.longPoll = 'instant';
    await startAgent({ longPollSeconds: 10 });
    await requestsSeen('next', 3);
    // Counted over a fixed window: the rate of claims is what is checked, not a condition to wait for.
    const windowStart = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    const inWindow = fake.requestsTo('next').filter((r) => r.at >= windowStart).length;
    // A long-polling solder asks every 10 s here, a tight one hundreds of times: ~1-2 at 5 s.
    expect(inWindow).toBeGreaterThanOrEqual(1);
    expect(inWindow).toBeLessThanOrEqual(3);
    expect(fake.requestsTo('next').at(-1)!.query.get('wait')).toBe('0');
    await succeeds('echo polled');
  }, 40_000);

  it('sends the registration token to /runners/register only, and never logs a token', async () => {
    const { logged } = await startAgent();
    fake.inject('heartbeat', fault.status(401, 'UNAUTHORIZED'));
    await requestsSeen('register', 2);
    fake.inject('next', fault.status(400, 'VALIDATION_FAILED'));
    const refused = fake.submit({ command: 'true' });
    fake.inject('status', fault.status(409, 'STALE_TASK'), { when: (r) => r.taskId === refused.id });
    await requestsSeen('status', 1, (r) => r.taskId === refused.id);
    await succeeds('echo done');
    fake.revokeRunnerToken();
    await requestsSeen('register', 3);

    const registration = `Bearer ${fake.registrationToken}`;
    for (const request of fake.requests) {
      const text = `${request.path}?${request.query.toString()} ${JSON.stringify(request.body ?? '')}`;
      expect(text).not.toContain(fake.registrationToken);
      if (request.route === 'register') expect(request.authorization).toBe(registration);
      else expect(request.authorization).not.toBe(registration);
    }
    expect(fake.issuedTokens.length).toBeGreaterThanOrEqual(3);
    expect(logged.length).toBeGreaterThan(3);
    const everything = logged.join('\n');
    for (const token of [fake.registrationToken, ...fake.issuedTokens]) expect(everything).not.toContain(token);
  });
});
