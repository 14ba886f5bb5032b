/**
 * Simulated solders against real mothership replicas: N runners register, then each heartbeats
 * at the server's interval and keeps one long-poll open, as `borg solder` does, while a trickle
 * of jobs is submitted and claimed. Everything runs on this machine, over loopback, bounded in
 * time; the replicas are `borg mothership` child processes over one fresh PostgreSQL database,
 * so their CPU and memory can be read from /proc apart from this simulator's.
 *
 *   npm run simulate-runners -- --runners 10000 --replicas 1
 *   npm run simulate-runners -- --runners 10000 --replicas 3      (runners spread round-robin)
 *
 * Options: --runners N (10000), --replicas R (1), --duration S of measurement (60),
 * --heartbeat S interval given to runners (10; the default 30 makes the load a third),
 * --wait S long-poll wait (30, the solder's default), --jobs-per-second J (2), --pool-size P
 * (each replica's BORG_DATABASE_POOL_SIZE), --profile-dir D (V8 CPU profiles of the replicas),
 * --database-url an admin URL of the PostgreSQL server (BORG_BENCH_DATABASE_URL,
 * default postgres://postgres@127.0.0.1:5432/postgres). Results also go to bench/results/.
 */
import { type ChildProcess, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import pg from 'pg';
import { Pool } from 'undici';

import { parsePrometheusText } from '../test/prometheus-text.ts';
import { spawnMothership } from './lib/mothership-process.ts';

const { values: args } = parseArgs({
  options: {
    runners: { type: 'string', default: '10000' },
    replicas: { type: 'string', default: '1' },
    duration: { type: 'string', default: '60' },
    heartbeat: { type: 'string', default: '10' },
    wait: { type: 'string', default: '30' },
    'jobs-per-second': { type: 'string', default: '2' },
    /** BORG_DATABASE_POOL_SIZE of each replica (the mothership's default is 20). */
    'pool-size': { type: 'string' },
    /** Write a V8 CPU profile of each replica into this directory (for finding where the time goes). */
    'profile-dir': { type: 'string' },
    'database-url': {
      type: 'string',
      default: process.env.BORG_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    },
  },
});
const RUNNERS = Number(args.runners);
const REPLICAS = Number(args.replicas);
const DURATION_S = Number(args.duration);
const HEARTBEAT_S = Number(args.heartbeat);
const WAIT_S = Number(args.wait);
const JOBS_PER_S = Number(args['jobs-per-second']);
/** Nothing runs longer than this, whatever happens: registration, warm-up, window, shutdown. */
const HARD_LIMIT_MS = (DURATION_S + 3 * HEARTBEAT_S + Number(args.wait) + 300) * 1000;

const ROOT = new URL('../', import.meta.url).pathname;
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const ADMIN = `bench-admin-${randomBytes(12).toString('hex')}`;
const REGISTRATION = `bench-reg-${randomBytes(12).toString('hex')}`;

// --- small tools -------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/** utime + stime of a process, in seconds, from /proc (null once it is gone). */
async function cpuSeconds(pid: number): Promise<number | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (!stat) return null;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // fields 14 and 15 of stat(5)
}

async function memoryOf(pid: number): Promise<{ rssMb: number; peakMb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
}

/** Busy and total CPU seconds of the whole machine (every core), from /proc/stat. */
async function machineCpu(): Promise<{ busy: number; total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number) as number[];
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  return { busy: busy / CLK_TCK, total: (busy + idle! + iowait!) / CLK_TCK };
}

/**
 * Server-side quantiles (ms) of one route's 2xx durations, summed over the replicas, from the
 * borg_http_request_duration_seconds buckets (linear within a bucket, like histogram_quantile).
 */
function routeQuantiles(scrapes: string[], method: string, route: string, qs: number[]): number[] {
  const buckets = new Map<number, number>();
  for (const text of scrapes) {
    const family = parsePrometheusText(text).get('borg_http_request_duration_seconds');
    for (const sample of family?.samples ?? []) {
      const { le, method: m, route: r, status_code: code } = sample.labels;
      if (!sample.name.endsWith('_bucket') || m !== method || r !== route || !code?.startsWith('2')) continue;
      const bound = le === '+Inf' ? Infinity : Number(le);
      buckets.set(bound, (buckets.get(bound) ?? 0) + sample.value);
    }
  }
  const sorted = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  return qs.map((q) => {
    const rank = q * total;
    let lower = 0;
    let below = 0;
    for (const [le, count] of sorted) {
      if (count >= rank) {
        if (le === Infinity) return lower * 1000;
        return (lower + ((le - lower) * (rank - below)) / Math.max(1, count - below)) * 1000;
      }
      lower = le;
      below = count;
    }
    return NaN;
  });
}

/** CPU seconds of every PostgreSQL server process (backends of all replicas, WAL writer, …). */
async function postgresCpu(): Promise<Map<number, number>> {
  const result = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const comm = await readFile(`/proc/${entry}/comm`, 'utf8').catch(() => '');
    if (comm.trim() !== 'postgres') continue;
    const cpu = await cpuSeconds(Number(entry));
    if (cpu !== null) result.set(Number(entry), cpu);
  }
  return result;
}

// --- the replicas ------------------------------------------------------------------------------

interface Replica {
  url: string;
  child: ChildProcess;
  /** Registration, heartbeats, jobs, status reports: short requests. */
  short: Pool;
  /** One connection per waiting runner. */
  polls: Pool;
}

async function startReplica(
  databaseUrl: string,
  dataDir: string,
  storageDir: string,
  output: string[],
): Promise<Replica> {
  const { url, child } = await spawnMothership({
    env: {
      DATABASE_URL: databaseUrl,
      BORG_DATA_DIR: dataDir,
      BORG_STORAGE_DIR: storageDir,
      BORG_ADMIN_TOKEN: ADMIN,
      BORG_REGISTRATION_TOKEN: REGISTRATION,
      BORG_HEARTBEAT_INTERVAL_SECONDS: String(HEARTBEAT_S),
      // Every simulated runner registers from this one address, thousands a minute.
      BORG_REGISTRATIONS_PER_MINUTE: '0',
      ...(args['pool-size'] ? { BORG_DATABASE_POOL_SIZE: args['pool-size'] } : {}),
    },
    nodeArgs: args['profile-dir'] ? ['--cpu-prof', `--cpu-prof-dir=${args['profile-dir']}`] : [],
    output,
  });
  const perReplica = Math.ceil(RUNNERS / REPLICAS);
  return {
    url,
    child,
    // Real solders each have their own connection; a small shared pool would queue heartbeats
    // in this process and blame the server for it.
    short: new Pool(url, { connections: 2048, pipelining: 1, keepAliveTimeout: 60_000 }),
    polls: new Pool(url, {
      connections: perReplica + 16,
      pipelining: 1,
      keepAliveTimeout: (WAIT_S + 30) * 1000,
      headersTimeout: (WAIT_S + 30) * 1000,
      bodyTimeout: (WAIT_S + 30) * 1000,
    }),
  };
}

async function call(
  pool: Pool,
  method: 'GET' | 'POST',
  path: string,
  token: string,
  body?: unknown,
  timeoutMs = 30_000, // the solder's own limit on one call (REQUEST_TIMEOUT_MS)
): Promise<{ status: number; json: unknown; retryAfterS?: number }> {
  // A deadline of its own only: AbortSignal.any() with one long-lived signal costs O(signals
  // alive) per call on Node 20 (10,000 calls took 4 s), which made this simulator, not the
  // server, the bottleneck at 10,000 runners. The run stops by destroying the pools instead.
  const response = await pool.request({
    method,
    path,
    signal: AbortSignal.timeout(timeoutMs),
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.body.text();
  const retryAfter = Number(response.headers['retry-after']);
  return {
    status: response.statusCode,
    json: text ? JSON.parse(text) : null,
    ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterS: retryAfter } : {}),
  };
}

// --- the simulated fleet -----------------------------------------------------------------------

interface SimRunner {
  id: string;
  token: string;
  replica: Replica;
  lastBeat: number;
}

const stats = {
  measuring: false,
  heartbeatMs: [] as number[],
  heartbeatErrors: 0,
  maxBeatGapMs: 0,
  polls: 0,
  pollErrors: 0,
  /** Long-polls the server shed (503 OVERLOADED with a Retry-After): degrading, not failing. */
  pollsShed: 0,
  claimed: 0,
  dispatchMs: [] as number[],
  submitted: 0,
  maxOffline: 0,
};
const submittedAt = new Map<string, number>();

async function register(replica: Replica, index: number): Promise<SimRunner> {
  for (let attempt = 0; ; attempt++) {
    try {
      const { status, json } = await call(replica.short, 'POST', '/api/v1/runners/register', REGISTRATION, {
        device_id: `sim-${index}`,
        name: `sim-${index}`,
        hostname: `sim-host-${index}`,
        os: 'linux',
        arch: 'x64',
        max_concurrent_tasks: 1,
        labels: { fleet: 'sim', rack: `r${index % 20}` },
        resources: {},
      });
      if (status !== 201) throw new Error(`register: ${status} ${JSON.stringify(json)}`);
      const { id, token } = json as { id: string; token: string };
      return { id, token, replica, lastBeat: performance.now() };
    } catch (error) {
      if (attempt >= 5) throw error;
      await sleep(500 * (attempt + 1));
    }
  }
}

/** The solder's own retry delay (packages/solder/src/retry.ts): capped doubling with equal jitter. */
function backoffMs(attempt: number, baseMs = 500, capMs = 30_000): number {
  const nominal = Math.min(capMs, baseMs * 2 ** attempt);
  return nominal / 2 + (Math.random() * nominal) / 2;
}

/**
 * Heartbeats every interval from now on, as a solder does after registering; after a failure
 * the next try comes sooner, after the solder's backoff but never later than the interval.
 */
function heartbeatLoop(runner: SimRunner, signal: AbortSignal): void {
  let failures = 0;
  const beat = async () => {
    if (signal.aborted) return;
    const started = performance.now();
    try {
      const { status } = await call(
        runner.replica.short,
        'POST',
        `/api/v1/runners/${runner.id}/heartbeat`,
        runner.token,
        { status: 'online', task_ids: [] },
      );
      if (status !== 200) throw new Error(`heartbeat ${status}`);
      const now = performance.now();
      if (stats.measuring) {
        stats.heartbeatMs.push(now - started);
        stats.maxBeatGapMs = Math.max(stats.maxBeatGapMs, now - runner.lastBeat);
      }
      runner.lastBeat = now;
      failures = 0;
    } catch {
      if (signal.aborted) return;
      if (stats.measuring) stats.heartbeatErrors++;
      failures++;
    }
    const delay = failures === 0 ? HEARTBEAT_S * 1000 : Math.min(HEARTBEAT_S * 1000, backoffMs(failures - 1));
    setTimeout(() => void beat(), delay).unref();
  };
  void beat();
}

/** One long-poll at a time, again at once after an answer, after the solder's backoff after an error. */
async function pollLoop(runner: SimRunner, signal: AbortSignal): Promise<void> {
  let failures = 0;
  while (!signal.aborted) {
    try {
      const { status, json, retryAfterS } = await call(
        runner.replica.polls,
        'GET',
        `/api/v1/runners/${runner.id}/tasks/next?wait=${WAIT_S}&max=1`,
        runner.token,
        undefined,
        (WAIT_S + 30) * 1000,
      );
      if (status === 503 && retryAfterS !== undefined) {
        // As the solder does (retry.ts): come back after the server's Retry-After, at least.
        if (stats.measuring) stats.pollsShed++;
        await sleep(Math.max(retryAfterS * 1000, backoffMs(failures++)));
        continue;
      }
      if (status !== 200 && status !== 204) throw new Error(`next ${status}`);
      if (stats.measuring) stats.polls++;
      failures = 0;
      if (status === 204) continue;
      for (const task of (json as { items: Array<{ id: string; job_id: string }> }).items) {
        const at = submittedAt.get(task.job_id);
        if (at !== undefined && stats.measuring) stats.dispatchMs.push(performance.now() - at);
        stats.claimed++;
        await call(runner.replica.short, 'POST', `/api/v1/tasks/${task.id}/status`, runner.token, {
          status: 'running',
        });
        await call(runner.replica.short, 'POST', `/api/v1/tasks/${task.id}/status`, runner.token, {
          status: 'succeeded',
          exit_code: 0,
        });
      }
    } catch {
      if (signal.aborted) return;
      if (stats.measuring) stats.pollErrors++;
      await sleep(backoffMs(failures++));
    }
  }
}

// --- the run -----------------------------------------------------------------------------------

async function main(): Promise<void> {
  const dbName = `borg_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: args['database-url'] });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const dbUrl = new URL(args['database-url']);
  dbUrl.pathname = `/${dbName}`;
  const storageDir = await mkdtemp(join(tmpdir(), 'borg-bench-storage-'));
  const dirs = [storageDir];
  const output: string[] = [];
  const replicas: Replica[] = [];
  const stop = new AbortController();
  const db = new pg.Client({ connectionString: dbUrl.toString() });
  db.on('error', () => undefined); // ended by the DROP DATABASE at the hard limit
  // Past the limit: kill the replicas, drop the database (a few seconds at most), exit.
  const hardStop = setTimeout(() => {
    console.error(`simulated-runners: still running after ${HARD_LIMIT_MS / 1000} s; giving up`);
    for (const r of replicas) r.child.kill('SIGKILL');
    const exit = () => process.exit(2);
    setTimeout(exit, 10_000).unref();
    admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).then(exit, exit);
  }, HARD_LIMIT_MS);
  hardStop.unref();

  try {
    for (let i = 0; i < REPLICAS; i++) {
      const dataDir = await mkdtemp(join(tmpdir(), 'borg-bench-replica-'));
      dirs.push(dataDir);
      replicas.push(await startReplica(dbUrl.toString(), dataDir, storageDir, output));
    }
    await db.connect();
    await db.query('SET statement_timeout = 5000');
    console.log(
      `${REPLICAS} replica(s) up; registering ${RUNNERS} runners (heartbeat ${HEARTBEAT_S} s, long-poll ${WAIT_S} s)…`,
    );

    const registerStarted = performance.now();
    const runners: SimRunner[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < RUNNERS) {
          const index = next++;
          runners.push(await register(replicas[index % REPLICAS]!, index));
        }
      }),
    );
    const registerSeconds = (performance.now() - registerStarted) / 1000;
    // Solders start at different times: each runner's loops begin at a random point of a ramp as
    // long as one long-poll (so the first polls arrive at the steady rate), and the window opens
    // one heartbeat interval after the ramp.
    const rampS = Math.max(HEARTBEAT_S, WAIT_S);
    console.log(`registered in ${registerSeconds.toFixed(1)} s; starting the fleet over ${rampS} s…`);
    for (const runner of runners) {
      setTimeout(
        () => {
          heartbeatLoop(runner, stop.signal);
          void pollLoop(runner, stop.signal);
        },
        Math.random() * rampS * 1000,
      ).unref();
    }
    await sleep((rampS + HEARTBEAT_S) * 1000 + 2_000);

    // The measured window.
    // CPU is read before and after the window, and divided by the time between the readings
    // (reading /proc for every process can take seconds on a swamped machine).
    const pgStarted = performance.now();
    const pgBefore = await postgresCpu();
    const cpuStarted = performance.now();
    const cpuBefore = await Promise.all(replicas.map((r) => cpuSeconds(r.child.pid!)));
    const selfBefore = process.cpuUsage();
    const machineBefore = await machineCpu();
    const loadSamples: number[] = [];
    const windowStarted = performance.now();
    stats.measuring = true;
    for (const r of runners) r.lastBeat = Math.max(r.lastBeat, windowStarted - HEARTBEAT_S * 1000);

    const submitter = (async () => {
      for (let i = 0; !stop.signal.aborted && performance.now() - windowStarted < DURATION_S * 1000; i++) {
        const replica = replicas[i % REPLICAS]!;
        const at = performance.now();
        const { status, json } = await call(
          replica.short,
          'POST',
          '/api/v1/jobs',
          ADMIN,
          { name: `bench-${i}`, type: 'shell', command: 'true', labels: { fleet: 'sim' } },
          5_000,
        ).catch(() => ({ status: 0, json: null }));
        if (status === 201) {
          submittedAt.set((json as { id: string }).id, at);
          stats.submitted++;
        }
        await sleep(Math.max(0, 1000 / JOBS_PER_S - (performance.now() - at)));
      }
    })();
    const peakRss = replicas.map(() => 0);
    let lastReport = 0;
    while (performance.now() - windowStarted < DURATION_S * 1000) {
      await sleep(2_000);
      const elapsed = (performance.now() - windowStarted) / 1000;
      if (elapsed - lastReport >= 10) {
        lastReport = elapsed;
        const beats = [...stats.heartbeatMs].sort((a, b) => a - b);
        console.log(
          `  ${elapsed.toFixed(0)} s: ${(beats.length / elapsed).toFixed(0)} heartbeats/s, p99 ${quantile(beats, 0.99).toFixed(0)} ms, ` +
            `${stats.heartbeatErrors} errors, ${stats.maxOffline} offline, ${stats.dispatchMs.length}/${stats.submitted} jobs claimed`,
        );
      }
      const offline = await db
        .query<{ n: number }>(`SELECT count(*)::integer AS n FROM runners WHERE status = 'offline'`)
        .then((r) => r.rows[0]!.n)
        .catch(() => 0); // statement_timeout: the database is swamped; the heartbeat figures will say so
      stats.maxOffline = Math.max(stats.maxOffline, offline);
      loadSamples.push(Number((await readFile('/proc/loadavg', 'utf8')).split(' ')[0]));
      for (const [i, r] of replicas.entries()) peakRss[i] = Math.max(peakRss[i]!, (await memoryOf(r.child.pid!)).rssMb);
    }
    await Promise.race([submitter, sleep(6_000)]);
    await sleep(1_000); // the last jobs' claims
    stats.measuring = false;
    const windowSeconds = (performance.now() - windowStarted) / 1000;
    const cpuAfter = await Promise.all(replicas.map((r) => cpuSeconds(r.child.pid!)));
    const self = process.cpuUsage(selfBefore);
    const machineAfter = await machineCpu();
    const cpuSecondsSpan = (performance.now() - cpuStarted) / 1000;
    const pgAfter = await postgresCpu();
    const pgSpan = (performance.now() - pgStarted) / 1000;
    let pgCpu = 0;
    for (const [pid, after] of pgAfter) pgCpu += after - (pgBefore.get(pid) ?? 0);

    const scrapes = await Promise.all(
      replicas.map((r) =>
        fetch(`${r.url}/metrics`, {
          headers: { authorization: `Bearer ${ADMIN}` },
          signal: AbortSignal.timeout(15_000),
        }).then(
          // A 503 (its database pool swamped) is a JSON error, not metrics: no server-side figures either.
          (x) => (x.ok ? x.text() : ''),
          () => '', // an overloaded replica does not answer in time: no server-side figures
        ),
      ),
    );
    const metrics = scrapes.at(-1)!;
    const [serverP50, serverP99] = routeQuantiles(scrapes, 'POST', '/api/v1/runners/:id/heartbeat', [0.5, 0.99]);
    const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN);
    const lagCount = metric('borg_event_bus_lag_seconds_count');
    const lagMeanMs = (metric('borg_event_bus_lag_seconds_sum') / lagCount) * 1000;

    const beats = stats.heartbeatMs.sort((a, b) => a - b);
    const dispatch = stats.dispatchMs.sort((a, b) => a - b);
    const result = {
      runners: RUNNERS,
      replicas: REPLICAS,
      heartbeat_interval_s: HEARTBEAT_S,
      long_poll_wait_s: WAIT_S,
      database_pool_size: Number(args['pool-size'] ?? 20),
      window_s: Number(windowSeconds.toFixed(1)),
      registration_s: Number(registerSeconds.toFixed(1)),
      heartbeats: beats.length,
      heartbeats_per_s: Number((beats.length / windowSeconds).toFixed(0)),
      heartbeat_ms: { p50: quantile(beats, 0.5), p99: quantile(beats, 0.99), max: beats.at(-1) ?? NaN },
      heartbeat_server_ms: { p50: serverP50!, p99: serverP99! },
      heartbeat_errors: stats.heartbeatErrors,
      max_gap_between_heartbeats_s: Number((stats.maxBeatGapMs / 1000).toFixed(1)),
      runners_marked_offline_max: stats.maxOffline,
      long_polls_answered: stats.polls,
      long_poll_errors: stats.pollErrors,
      long_polls_shed: stats.pollsShed,
      jobs_submitted: stats.submitted,
      jobs_claimed: dispatch.length,
      submit_to_claim_ms: { p50: quantile(dispatch, 0.5), p99: quantile(dispatch, 0.99) },
      mothership_cpu_cores: cpuAfter.map((after, i) => Number(((after! - cpuBefore[i]!) / cpuSecondsSpan).toFixed(2))),
      mothership_rss_mb: peakRss.map((mb) => Math.round(mb)),
      postgres_cpu_cores: Number((pgCpu / pgSpan).toFixed(2)),
      simulator_cpu_cores: Number(((self.user + self.system) / 1e6 / cpuSecondsSpan).toFixed(2)),
      // The machine is shared: how busy it was in all during the window, and its load.
      machine_busy_cores: Number(((machineAfter.busy - machineBefore.busy) / cpuSecondsSpan).toFixed(2)),
      machine_cores: Number(((machineAfter.total - machineBefore.total) / cpuSecondsSpan).toFixed(0)),
      load_average_mean: Number((loadSamples.reduce((a, b) => a + b, 0) / Math.max(1, loadSamples.length)).toFixed(1)),
      event_bus_lag_mean_ms: REPLICAS > 1 ? Number(lagMeanMs.toFixed(1)) : null,
    };
    const round = (o: Record<string, number>) =>
      Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Number(v.toFixed(1))]));
    result.heartbeat_ms = round(result.heartbeat_ms) as typeof result.heartbeat_ms;
    result.submit_to_claim_ms = round(result.submit_to_claim_ms) as typeof result.submit_to_claim_ms;
    result.heartbeat_server_ms = round(result.heartbeat_server_ms) as typeof result.heartbeat_server_ms;
    console.log(JSON.stringify(result, null, 2));
    await mkdir(join(ROOT, 'bench/results'), { recursive: true });
    await writeFile(
      join(ROOT, `bench/results/simulated-runners-${RUNNERS}x${REPLICAS}.json`),
      JSON.stringify(result, null, 2),
    );
  } finally {
    stop.abort();
    await Promise.all(
      replicas.flatMap((r) => [r.polls.destroy(), r.short.destroy()]).map((p) => p.catch(() => undefined)),
    );
    await Promise.all(
      replicas.map(
        (r) =>
          new Promise<void>((resolve) => {
            if (r.child.exitCode !== null) return resolve();
            r.child.once('exit', () => resolve());
            r.child.kill('SIGTERM');
            setTimeout(() => r.child.kill('SIGKILL'), 15_000).unref();
          }),
      ),
    );
    await db.end().catch(() => undefined);
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    clearTimeout(hardStop);
  }
}

await main();
