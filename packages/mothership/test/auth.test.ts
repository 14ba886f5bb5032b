import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

import { type RouteDefinition, routes } from '@borg/protocol';
import { beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';

import { type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';
import { storageDirOf } from '../src/config.ts';
import { servedRoutes } from './served-routes.ts';

/**
 * DESIGN "Semantics" 8 and test plan 4.C (A1-A8, A11, A12), W1: one table naming every route
 * the app serves with who may call it, and every kind of bad credential thrown at each.
 */

type Role = 'viewer' | 'submitter' | 'operator' | 'admin';
type Access = 'public' | Role | 'runner' | 'registration' | 'viewer-or-runner';
const ROLE_NAMES: Role[] = ['viewer', 'submitter', 'operator', 'admin'];
type Body = { json: unknown } | { form: () => FormData } | { bytes: string };

interface Context {
  /** A user token of each role. */
  roles: Record<Role, string>;
  fileId: string;
  heldTaskId: string;
  waitingJobId: string;
  /** A pipeline of one job, blocked on nothing. */
  pipelineId: string;
  /** A paused schedule (so it fires nothing while the state is compared). */
  scheduleId: string;
  victimTokenId: string;
  a: TestRunner;
  b: TestRunner;
  /** A runner for the delete route alone. */
  doomed: TestRunner;
  /** A webhook to a name the address rule refuses (nothing is ever sent), one of its deliveries, and one to delete. */
  webhookId: string;
  deliveryId: string;
  doomedWebhookId: string;
}

interface RouteSpec {
  access: Access;
  path: (c: Context) => string;
  body?: (c: Context) => Body;
}

const artifactForm = (taskId: string) => () => {
  const form = new FormData();
  form.append('task_id', taskId);
  form.append('path', 'out/probe.txt');
  form.append('file', new Blob(['probe']), 'probe.txt');
  return form;
};
const fileForm = () => {
  const form = new FormData();
  form.append('file', new Blob(['probe']), 'probe.txt');
  return form;
};

/** Every route, with a request that would succeed if the token were right. */
const ROUTES: Record<string, RouteSpec> = {
  'GET /healthz': { access: 'public', path: () => '/healthz' },
  'GET /readyz': { access: 'public', path: () => '/readyz' },
  // The dashboard's catch-all `/*` (client-side routes; the router's tree prints it as `*`).
  'GET *': { access: 'public', path: () => '/jobs' },
  'GET /metrics': { access: 'viewer', path: () => '/metrics' },
  // What a machine fetches before it has any token (the bundle is built by the global setup).
  'GET /install.sh': { access: 'public', path: () => '/install.sh' },
  'GET /install/borg-solder.mjs': { access: 'public', path: () => '/install/borg-solder.mjs' },
  'GET /install/borg-solder.mjs.sha256': { access: 'public', path: () => '/install/borg-solder.mjs.sha256' },
  'GET /api/docs': { access: 'viewer', path: () => '/api/docs' },
  'GET /ws': { access: 'viewer', path: () => '/ws' },
  'POST /api/v1/jobs': {
    access: 'submitter',
    path: () => '/api/v1/jobs',
    body: () => ({ json: { name: 'probe', command: 'true' } }),
  },
  'GET /api/v1/jobs': { access: 'viewer', path: () => '/api/v1/jobs' },
  'GET /api/v1/jobs/:id': { access: 'viewer', path: (c) => `/api/v1/jobs/${c.waitingJobId}` },
  'GET /api/v1/jobs/:id/placement': { access: 'viewer', path: (c) => `/api/v1/jobs/${c.waitingJobId}/placement` },
  'POST /api/v1/jobs/:id/pause': { access: 'submitter', path: (c) => `/api/v1/jobs/${c.waitingJobId}/pause` },
  'POST /api/v1/jobs/:id/resume': { access: 'submitter', path: (c) => `/api/v1/jobs/${c.waitingJobId}/resume` },
  'POST /api/v1/jobs/:id/retry': { access: 'submitter', path: (c) => `/api/v1/jobs/${c.waitingJobId}/retry` },
  'POST /api/v1/jobs/:id/cancel': { access: 'submitter', path: (c) => `/api/v1/jobs/${c.waitingJobId}/cancel` },
  // The waiting job has not ended: a caller with the right is answered 409, never 401 or 403.
  'DELETE /api/v1/jobs/:id': { access: 'submitter', path: (c) => `/api/v1/jobs/${c.waitingJobId}` },
  'PATCH /api/v1/jobs/:id': {
    access: 'submitter',
    path: (c) => `/api/v1/jobs/${c.waitingJobId}`,
    body: () => ({ json: { max_parallel: 2 } }),
  },
  'GET /api/v1/jobs/:id/graph': { access: 'viewer', path: (c) => `/api/v1/jobs/${c.waitingJobId}/graph` },
  'POST /api/v1/pipelines': {
    access: 'submitter',
    path: () => '/api/v1/pipelines',
    body: () => ({ json: { jobs: [{ name: 'probe', command: 'true' }] } }),
  },
  'GET /api/v1/pipelines/:id': { access: 'viewer', path: (c) => `/api/v1/pipelines/${c.pipelineId}` },
  'GET /api/v1/jobs/:id/elements': { access: 'viewer', path: (c) => `/api/v1/jobs/${c.waitingJobId}/elements` },
  'POST /api/v1/jobs/:id/elements/:index/retry': {
    access: 'submitter',
    path: (c) => `/api/v1/jobs/${c.waitingJobId}/elements/0/retry`,
  },
  'POST /api/v1/jobs/:id/elements/:index/cancel': {
    access: 'submitter',
    path: (c) => `/api/v1/jobs/${c.waitingJobId}/elements/0/cancel`,
  },
  'POST /api/v1/jobs/:id/elements/retry': {
    access: 'submitter',
    path: (c) => `/api/v1/jobs/${c.waitingJobId}/elements/retry`,
    body: () => ({ json: { status: ['failed'] } }),
  },
  'POST /api/v1/jobs/:id/elements/cancel': {
    access: 'submitter',
    path: (c) => `/api/v1/jobs/${c.waitingJobId}/elements/cancel`,
    body: () => ({ json: { indexes: [0] } }),
  },
  'GET /api/v1/runners': { access: 'viewer', path: () => '/api/v1/runners' },
  'POST /api/v1/runners/register': {
    access: 'registration',
    path: () => '/api/v1/runners/register',
    body: () => ({ json: { device_id: `probe-${randomUUID()}`, name: 'probe' } }),
  },
  'GET /api/v1/runners/:id': { access: 'viewer', path: (c) => `/api/v1/runners/${c.b.id}` },
  'GET /api/v1/runners/:id/tasks': { access: 'viewer', path: (c) => `/api/v1/runners/${c.a.id}/tasks` },
  'POST /api/v1/runners/:id/drain': { access: 'operator', path: (c) => `/api/v1/runners/${c.b.id}/drain` },
  'POST /api/v1/runners/:id/resume': { access: 'operator', path: (c) => `/api/v1/runners/${c.b.id}/resume` },
  'POST /api/v1/runners/:id/approve': { access: 'operator', path: (c) => `/api/v1/runners/${c.b.id}/approve` },
  'DELETE /api/v1/runners/:id': { access: 'operator', path: (c) => `/api/v1/runners/${c.doomed.id}` },
  'POST /api/v1/runners/:id/heartbeat': {
    access: 'runner',
    path: (c) => `/api/v1/runners/${c.a.id}/heartbeat`,
    body: () => ({ json: {} }),
  },
  'GET /api/v1/runners/:id/tasks/next': {
    access: 'runner',
    path: (c) => `/api/v1/runners/${c.a.id}/tasks/next?wait=0`,
  },
  'POST /api/v1/runners/:id/tasks/status': {
    access: 'runner',
    path: (c) => `/api/v1/runners/${c.a.id}/tasks/status`,
    body: (c) => ({ json: { reports: [{ task_id: c.heldTaskId, status: 'running' }] } }),
  },
  'GET /api/v1/tasks/:id': { access: 'viewer', path: (c) => `/api/v1/tasks/${c.heldTaskId}` },
  'POST /api/v1/tasks/:id/status': {
    access: 'runner',
    path: (c) => `/api/v1/tasks/${c.heldTaskId}/status`,
    body: () => ({ json: { status: 'running' } }),
  },
  'POST /api/v1/tasks/:id/logs': {
    access: 'runner',
    path: (c) => `/api/v1/tasks/${c.heldTaskId}/logs`,
    body: () => ({ json: { seq: 0, lines: [{ stream: 'stdout', message: 'probe' }] } }),
  },
  // The held task was not taken back, so the runner's own token gets 409 (nothing to take over).
  'POST /api/v1/tasks/:id/take-over': { access: 'runner', path: (c) => `/api/v1/tasks/${c.heldTaskId}/take-over` },
  'GET /api/v1/tasks/:id/logs': { access: 'viewer', path: (c) => `/api/v1/tasks/${c.heldTaskId}/logs` },
  'GET /api/v1/jobs/:id/logs/search': {
    access: 'viewer',
    path: (c) => `/api/v1/jobs/${c.waitingJobId}/logs/search?q=step`,
  },
  'GET /api/v1/tasks/:id/placement': { access: 'viewer', path: (c) => `/api/v1/tasks/${c.heldTaskId}/placement` },
  'GET /api/v1/tasks/:id/gpus': { access: 'viewer', path: (c) => `/api/v1/tasks/${c.heldTaskId}/gpus` },
  'GET /api/v1/tasks/:id/artifacts': { access: 'viewer', path: (c) => `/api/v1/tasks/${c.heldTaskId}/artifacts` },
  'POST /api/v1/files': { access: 'submitter', path: () => '/api/v1/files', body: () => ({ form: fileForm }) },
  'PUT /api/v1/files': {
    access: 'submitter',
    path: () => '/api/v1/files?filename=probe.txt',
    body: () => ({ bytes: 'probe' }),
  },
  'GET /api/v1/files/:id': { access: 'viewer', path: (c) => `/api/v1/files/${c.fileId}` },
  'GET /api/v1/files/:id/download': { access: 'viewer-or-runner', path: (c) => `/api/v1/files/${c.fileId}/download` },
  'POST /api/v1/artifacts/upload': {
    access: 'runner',
    path: () => '/api/v1/artifacts/upload',
    body: (c) => ({ form: artifactForm(c.heldTaskId) }),
  },
  'PUT /api/v1/artifacts/upload': {
    access: 'runner',
    path: (c) => `/api/v1/artifacts/upload?task_id=${c.heldTaskId}&path=out/raw-probe.txt`,
    body: () => ({ bytes: 'probe' }),
  },
  'GET /api/v1/tokens': { access: 'admin', path: () => '/api/v1/tokens' },
  'POST /api/v1/tokens': { access: 'admin', path: () => '/api/v1/tokens', body: () => ({ json: { name: 'probe' } }) },
  'DELETE /api/v1/tokens/:id': { access: 'admin', path: (c) => `/api/v1/tokens/${c.victimTokenId}` },
  'GET /api/v1/stats': { access: 'viewer', path: () => '/api/v1/stats' },
  'GET /api/v1/stats/timeseries': { access: 'viewer', path: () => '/api/v1/stats/timeseries' },
  'GET /api/v1/whoami': { access: 'viewer', path: () => '/api/v1/whoami' },
  'GET /api/v1/resolve': {
    access: 'viewer',
    path: (c) => `/api/v1/resolve?prefix=${c.waitingJobId.slice(0, 8)}&kind=job,task`,
  },
  'GET /api/v1/secrets': { access: 'admin', path: () => '/api/v1/secrets' },
  'PUT /api/v1/secrets/:name': {
    access: 'admin',
    path: () => '/api/v1/secrets/probe',
    body: () => ({ json: { value: 'probe value' } }),
  },
  'DELETE /api/v1/secrets/:name': { access: 'admin', path: () => '/api/v1/secrets/probe' },
  'GET /api/v1/audit': { access: 'admin', path: () => '/api/v1/audit' },
  'POST /api/v1/schedules': {
    access: 'operator',
    path: () => '/api/v1/schedules',
    body: () => ({ json: { name: 'probe', cron: '0 3 * * *', job: { name: 'probe', command: 'true' } } }),
  },
  'GET /api/v1/schedules': { access: 'viewer', path: () => '/api/v1/schedules' },
  'GET /api/v1/schedules/:id': { access: 'viewer', path: (c) => `/api/v1/schedules/${c.scheduleId}` },
  'PATCH /api/v1/schedules/:id': {
    access: 'operator',
    path: (c) => `/api/v1/schedules/${c.scheduleId}`,
    body: () => ({ json: { name: 'probe' } }),
  },
  'DELETE /api/v1/schedules/:id': { access: 'operator', path: (c) => `/api/v1/schedules/${c.scheduleId}` },
  'POST /api/v1/schedules/:id/trigger': {
    access: 'operator',
    path: (c) => `/api/v1/schedules/${c.scheduleId}/trigger`,
  },
  'GET /api/v1/webhooks': { access: 'admin', path: () => '/api/v1/webhooks' },
  'POST /api/v1/webhooks': {
    access: 'admin',
    path: () => '/api/v1/webhooks',
    body: () => ({ json: { url: 'http://localhost:9/probe', events: ['job.skipped'] } }),
  },
  'GET /api/v1/webhooks/:id': { access: 'admin', path: (c) => `/api/v1/webhooks/${c.webhookId}` },
  'PATCH /api/v1/webhooks/:id': {
    access: 'admin',
    path: (c) => `/api/v1/webhooks/${c.webhookId}`,
    body: () => ({ json: { active: true } }),
  },
  'DELETE /api/v1/webhooks/:id': { access: 'admin', path: (c) => `/api/v1/webhooks/${c.doomedWebhookId}` },
  'GET /api/v1/webhooks/:id/deliveries': { access: 'admin', path: (c) => `/api/v1/webhooks/${c.webhookId}/deliveries` },
  'POST /api/v1/webhooks/:id/ping': { access: 'admin', path: (c) => `/api/v1/webhooks/${c.webhookId}/ping` },
  'GET /api/v1/webhooks/:id/deliveries/:delivery_id': {
    access: 'admin',
    path: (c) => `/api/v1/webhooks/${c.webhookId}/deliveries/${c.deliveryId}`,
  },
  'POST /api/v1/webhooks/:id/deliveries/:delivery_id/redeliver': {
    access: 'admin',
    path: (c) => `/api/v1/webhooks/${c.webhookId}/deliveries/${c.deliveryId}/redeliver`,
  },
};

const KIND_ALLOWED: Record<Exclude<Access, 'public'>, string[]> = {
  viewer: ['user'],
  submitter: ['user'],
  operator: ['user'],
  admin: ['user'],
  runner: ['runner'],
  // A runner token may register its own device again (runner-life-cycle.test.ts), never the
  // new device these probes name: here it is refused like any other class.
  registration: ['registration'],
  'viewer-or-runner': ['user', 'runner'],
};
const isRole = (access: Access): access is Role => (ROLE_NAMES as string[]).includes(access);

const ERROR_SHAPE = { error: { code: expect.any(String), message: expect.any(String) } };
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('authentication and authorization of every route', () => {
  // This file alone makes about a thousand refused requests from one address on purpose; the
  // per-address limit on failed authentications (rate-limit.test.ts) would turn them into 429s.
  const borg = useTestMothership({ config: { authFailuresPerMinute: 0 } });
  const c = {} as Context;
  /** Every response body seen, except the two answers whose purpose is to hand out a token. */
  const seen: string[] = [];
  const secrets: string[] = [];
  const invalid: Array<[string, string]> = [];
  let before: unknown;

  async function send(spec: RouteSpec, authorization?: string, options: { method?: string; record?: boolean } = {}) {
    const body = spec.body?.(c);
    const headers: Record<string, string> = {};
    if (authorization !== undefined) headers.authorization = authorization;
    let payload: string | FormData | undefined;
    if (body && 'json' in body) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(body.json);
    } else if (body && 'bytes' in body) {
      headers['content-type'] = 'application/octet-stream';
      payload = body.bytes;
    } else if (body) {
      payload = body.form();
    }
    const response = await fetch(borg().url + spec.path(c), { method: options.method, headers, body: payload });
    const text = await response.text();
    if (options.record !== false) seen.push(text);
    return { status: response.status, text, headers: response.headers };
  }

  async function state() {
    const { rows } = await borg().db.query<{ state: unknown }>(`SELECT json_build_object(
      'jobs', (SELECT json_agg(json_build_array(id, status, paused, cancel_requested_at) ORDER BY id) FROM jobs),
      'tasks', (SELECT json_agg(json_build_array(id, status, runner_id, log_batches) ORDER BY id) FROM tasks),
      'runners', (SELECT json_agg(json_build_array(id, last_heartbeat, draining, status) ORDER BY id) FROM runners),
      'tokens', (SELECT json_agg(json_build_array(id, revoked_at) ORDER BY id) FROM api_tokens),
      'secrets', (SELECT json_agg(json_build_array(name, updated_at) ORDER BY name) FROM secrets),
      'webhooks', (SELECT json_agg(json_build_array(id, url, active, updated_at) ORDER BY id) FROM webhooks),
      'webhook_deliveries', (SELECT count(*) FROM webhook_deliveries),
      'files', (SELECT count(*) FROM files),
      'artifacts', (SELECT count(*) FROM artifacts),
      'logs', (SELECT count(*) FROM task_logs)) AS state`);
    const blobs = await readdir(join(storageDirOf(borg().services.config), 'blobs'), { recursive: true });
    return { db: rows[0]!.state, blobs: blobs.sort() };
  }

  beforeAll(async () => {
    const { admin } = borg();
    c.a = await borg().registerRunner({ max_concurrent_tasks: 2 });
    c.b = await borg().registerRunner();
    c.doomed = await borg().registerRunner();
    c.fileId = (await admin.uploadFile(new Blob(['input bytes']), 'in.txt')).id;
    await admin.createJob({ name: 'held', command: 'true', files: [{ file_id: c.fileId, path: 'in.txt' }] });
    const claimed = await c.a.client.nextTasks(c.a.id, { wait: 0, max: 1 });
    c.heldTaskId = claimed!.items[0]!.id;
    c.roles = { admin: borg().adminToken } as Record<Role, string>;
    for (const role of ['viewer', 'submitter', 'operator'] as const) {
      c.roles[role] = (await admin.createToken({ name: `a ${role}`, role })).token;
    }
    // Submitted by the submitter: its own job is what a submitter may pause, cancel or retry.
    c.waitingJobId = (await borg().client(c.roles.submitter).createJob({ name: 'waiting', command: 'true' })).id;
    c.pipelineId = (await admin.createPipeline({ jobs: [{ name: 'piped', command: 'true' }] })).id;
    const victim = await admin.createToken({ name: 'victim' });
    c.victimTokenId = victim.id;
    // Created by the operator: its own schedule is what an operator may change, trigger or delete.
    c.scheduleId = (
      await borg()
        .client(c.roles.operator)
        .createSchedule({ name: 'probe', cron: '0 3 * * *', job: { name: 'probe', command: 'true' }, paused: true })
    ).id;
    // localhost is refused at connect time (BORG_WEBHOOK_ALLOW_PRIVATE is off): pings go nowhere.
    c.webhookId = (await admin.createWebhook({ url: 'http://localhost:9/probe', events: ['job.skipped'] })).id;
    c.deliveryId = (await admin.pingWebhook(c.webhookId)).id;
    c.doomedWebhookId = (await admin.createWebhook({ url: 'http://localhost:9/doomed', events: ['job.skipped'] })).id;

    const revokedUser = await admin.createToken({ name: 'revoked' });
    await admin.revokeToken(revokedUser.id);
    const revokedRegistration = await admin.createToken({ name: 'revoked registration', kind: 'registration' });
    await admin.revokeToken(revokedRegistration.id);
    const expired = await admin.createToken({ name: 'expired', expires_in_seconds: 60 });
    await borg().db.query(`UPDATE api_tokens SET expires_at = now() - interval '1 minute' WHERE id = $1`, [expired.id]);
    const replaced = await borg().registerRunner();
    const reregistered = await borg().registerRunner({ device_id: replaced.deviceId });

    const admin_ = borg().adminToken;
    invalid.push(
      ['no Authorization header', ''],
      ['an empty Bearer', 'Bearer '],
      ['a Bearer with nothing after it', 'Bearer'],
      ['a 10 KB token', `Bearer ${'x'.repeat(10 * 1024)}`],
      ['non-ASCII bytes', `Bearer ${Buffer.from('borg_usr_tökén✓', 'utf8').toString('latin1')}`],
      ['the Basic scheme', 'Basic x'],
      ['a valid token under another scheme', `Token ${admin_}`],
      ['a valid token after two spaces', `Bearer  ${admin_}`],
      ['two tokens', `Bearer ${admin_} ${admin_}`],
      ['a well-formed unknown token', `Bearer borg_usr_${randomBytes(32).toString('base64url')}`],
      ['a revoked user token', `Bearer ${revokedUser.token}`],
      ['a revoked registration token', `Bearer ${revokedRegistration.token}`],
      ['an expired user token', `Bearer ${expired.token}`],
      ["a runner token replaced by the runner's re-registration", `Bearer ${replaced.token}`],
    );
    secrets.push(
      admin_,
      borg().registrationToken,
      c.a.token,
      c.b.token,
      victim.token,
      ...Object.values(c.roles),
      revokedUser.token,
      revokedRegistration.token,
      expired.token,
      replaced.token,
      reregistered.token,
    );
    before = await state();
  });

  const tokenOf = (kind: string) =>
    kind === 'user' ? borg().adminToken : kind === 'runner' ? c.a.token : borg().registrationToken;

  it('has an entry for every route the app serves, and none for routes it does not', () => {
    const served = servedRoutes(borg().mothership.app);
    expect(served).toEqual(Object.keys(ROUTES).sort());
    // The tree parser itself is checked against the OpenAPI document's paths.
    const documented = Object.entries(
      (borg().mothership.app.swagger() as { paths: Record<string, object> }).paths,
    ).flatMap(([path, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    expect(served).toEqual(expect.arrayContaining(documented));
  });

  it("agrees with the protocol's route table on who may call each operation", () => {
    for (const definition of Object.values(routes) as RouteDefinition[]) {
      const spec = ROUTES[`${definition.method} ${definition.path}`];
      expect(spec?.access, `${definition.method} ${definition.path}`).toBe(definition.access);
    }
  });

  it('holds the critical cases, written out one by one', async () => {
    const sendAs = (token: string, method: string, key: string) =>
      send(ROUTES[key]!, `Bearer ${token}`, { method, record: false }).then((r) => r.status);
    const { viewer, submitter, operator } = c.roles;
    const cases: Array<[string, string, string, string, number]> = [
      ['a viewer submits a job', viewer, 'POST', 'POST /api/v1/jobs', 403],
      ['a viewer uploads a file', viewer, 'POST', 'POST /api/v1/files', 403],
      ['a viewer cancels a job', viewer, 'POST', 'POST /api/v1/jobs/:id/cancel', 403],
      ['a viewer deletes a job', viewer, 'DELETE', 'DELETE /api/v1/jobs/:id', 403],
      ['a submitter drains a runner', submitter, 'POST', 'POST /api/v1/runners/:id/drain', 403],
      ['a submitter deletes a runner', submitter, 'DELETE', 'DELETE /api/v1/runners/:id', 403],
      ['a submitter approves a runner', submitter, 'POST', 'POST /api/v1/runners/:id/approve', 403],
      ['a runner token registers a new device', c.a.token, 'POST', 'POST /api/v1/runners/register', 403],
      ['a submitter lists tokens', submitter, 'GET', 'GET /api/v1/tokens', 403],
      ['a submitter mints a token', submitter, 'POST', 'POST /api/v1/tokens', 403],
      ['an operator mints a token', operator, 'POST', 'POST /api/v1/tokens', 403],
      ['an operator revokes a token', operator, 'DELETE', 'DELETE /api/v1/tokens/:id', 403],
      ['an operator reads the audit log', operator, 'GET', 'GET /api/v1/audit', 403],
      ['an operator sets a secret', operator, 'PUT', 'PUT /api/v1/secrets/:name', 403],
      ['a viewer lists the secrets', viewer, 'GET', 'GET /api/v1/secrets', 403],
      ['an operator creates a webhook', operator, 'POST', 'POST /api/v1/webhooks', 403],
      ['an operator pings a webhook', operator, 'POST', 'POST /api/v1/webhooks/:id/ping', 403],
      ['a viewer lists the webhooks', viewer, 'GET', 'GET /api/v1/webhooks', 403],
      ['a runner lists the webhooks', c.a.token, 'GET', 'GET /api/v1/webhooks', 403],
      ['a runner lists jobs', c.a.token, 'GET', 'GET /api/v1/jobs', 403],
      ['a runner submits a job', c.a.token, 'POST', 'POST /api/v1/jobs', 403],
      ['the registration token reads a job', borg().registrationToken, 'GET', 'GET /api/v1/jobs/:id', 403],
      ['a viewer reads a job', viewer, 'GET', 'GET /api/v1/jobs/:id', 200],
      ['a viewer downloads an input file', viewer, 'GET', 'GET /api/v1/files/:id/download', 200],
      ['an operator reads the runners', operator, 'GET', 'GET /api/v1/runners', 200],
    ];
    for (const [what, token, method, key, status] of cases) {
      expect(await sendAs(token, method, key), what).toBe(status);
    }
  });

  it.each(Object.keys(ROUTES))(
    '%s refuses a missing, malformed, unknown, revoked or expired token, and other classes',
    async (key) => {
      const spec = ROUTES[key]!;
      const method = key.split(' ')[0]!;
      for (const [what, header] of invalid) {
        const response = await send(spec, header || undefined, { method });
        if (spec.access === 'public') {
          expect(response.status, `${key} with ${what}`).toBe(200);
          continue;
        }
        expect(response.status, `${key} with ${what}: ${response.text}`).toBe(401);
        expect(JSON.parse(response.text)).toEqual({ error: { code: 'UNAUTHORIZED', message: expect.any(String) } });
        // A3: a refused token is named invalid_token (RFC 6750), whatever the reason (revoked,
        // expired, unknown), so the answer tells a guesser nothing; no token gets the bare scheme.
        expect(response.headers.get('www-authenticate'), `${key} with ${what}`).toBe(
          header ? 'Bearer error="invalid_token"' : 'Bearer',
        );
        if (method === 'GET')
          expect((await send(spec, header || undefined, { method: 'HEAD' })).status, `HEAD ${key}`).toBe(401);
      }
      if (spec.access === 'public') return;
      for (const kind of ['user', 'runner', 'registration'].filter(
        (k) => !KIND_ALLOWED[spec.access as Exclude<Access, 'public'>].includes(k),
      )) {
        const response = await send(spec, `Bearer ${tokenOf(kind)}`, { method });
        expect(response.status, `${key} with a ${kind} token: ${response.text}`).toBe(403);
        expect(JSON.parse(response.text)).toEqual({ error: { code: 'FORBIDDEN', message: expect.any(String) } });
      }
      // A user token below the route's role is refused, and told which role it needs.
      const needed = spec.access === 'viewer-or-runner' ? 'viewer' : spec.access;
      if (!isRole(needed)) return;
      for (const role of ROLE_NAMES.slice(0, ROLE_NAMES.indexOf(needed))) {
        const response = await send(spec, `Bearer ${c.roles[role]}`, { method });
        expect(response.status, `${key} with a ${role} token: ${response.text}`).toBe(403);
        expect(JSON.parse(response.text)).toEqual({
          error: {
            code: 'FORBIDDEN',
            message: `this route needs the ${needed} role; this token is ${role === 'operator' || role === 'admin' ? 'an' : 'a'} ${role}`,
          },
        });
      }
    },
  );

  it("refuses runner A's token for runner B, for ids that merely resemble A's, and for B's tasks (A6, A7, A12)", async () => {
    const { a, b, heldTaskId: task } = c;
    const cases: Array<[string, string, string, Body | undefined, number]> = [
      ["A's token on B's heartbeat", a.token, `/api/v1/runners/${b.id}/heartbeat`, { json: {} }, 403],
      ["A's token on B's claim", a.token, `/api/v1/runners/${b.id}/tasks/next?wait=0&max=2`, undefined, 403],
      ["A's token on a prefix of A's id", a.token, `/api/v1/runners/${a.id.slice(0, -1)}/heartbeat`, { json: {} }, 403],
      ["A's token on A's id with a suffix", a.token, `/api/v1/runners/${a.id}0/tasks/next`, undefined, 403],
      ["B's status for A's task", b.token, `/api/v1/tasks/${task}/status`, { json: { status: 'failed' } }, 403],
      ["B's logs for A's task", b.token, `/api/v1/tasks/${task}/logs`, { json: { seq: 0, lines: [] } }, 403],
      ["B's artifact for A's task", b.token, '/api/v1/artifacts/upload', { form: artifactForm(task) }, 403],
      // A runner that may not read a file learns nothing, not even that it exists.
      ["B's download of an input of A's task", b.token, `/api/v1/files/${c.fileId}/download`, undefined, 404],
    ];
    for (const [what, token, path, body, status] of cases) {
      const spec: RouteSpec = { access: 'runner', path: () => path, body: body && (() => body) };
      const response = await send(spec, `Bearer ${token}`, { method: body ? 'POST' : 'GET' });
      expect(response.status, `${what}: ${response.text}`).toBe(status);
      expect(JSON.parse(response.text)).toMatchObject(ERROR_SHAPE);
    }
    // The seed's body field is held to the same rule as the header.
    const register = ROUTES['POST /api/v1/runners/register']!;
    for (const [token, status] of [
      [borg().adminToken, 403],
      [c.a.token, 403],
      ['nonsense', 401],
    ] as const) {
      const response = await send(
        { ...register, body: () => ({ json: { device_id: `probe-${randomUUID()}`, name: 'p', token } }) },
        undefined,
        { method: 'POST' },
      );
      expect(response.status, `register with ${token} in the body`).toBe(status);
    }
  });

  it('refuses a WebSocket upgrade with a token that is not a valid user token before switching protocols (W1)', async () => {
    const upgrade = (query: string, headers: Record<string, string> = {}) =>
      new Promise<number>((resolve, reject) => {
        const socket = new WebSocket(`${borg().url.replace(/^http/, 'ws')}/ws${query}`, { headers });
        // The refusal must also end the connection: the server, not this client, closes it.
        socket.on('unexpected-response', (request, response) => {
          response.resume();
          request.socket?.once('close', () => resolve(response.statusCode ?? 0));
        });
        socket.on('open', () => {
          resolve(101);
          socket.close();
        });
        socket.on('error', reject);
      });
    // No credential at all: the socket opens and must sign in with its first message (websocket-auth.test.ts).
    expect(await upgrade('')).toBe(101);
    expect(await upgrade('?token=not-a-token')).toBe(401);
    expect(await upgrade('', { authorization: 'Basic x' })).toBe(401);
    expect(await upgrade('', { authorization: `Bearer ${c.a.token}` })).toBe(403);
    expect(await upgrade(`?token=${encodeURIComponent(borg().registrationToken)}`)).toBe(403);
    // The same server does switch protocols for a user token, in the header or the query.
    expect(await upgrade('', { authorization: `Bearer ${borg().adminToken}` })).toBe(101);
    expect(await upgrade(`?token=${encodeURIComponent(borg().adminToken)}`)).toBe(101);
  });

  it('takes a token from the query string on /ws alone, so tokens stay out of ordinary URLs and their logs', async () => {
    for (const key of Object.keys(ROUTES).filter((k) => k.startsWith('GET ') && k !== 'GET /ws')) {
      const spec = ROUTES[key]!;
      const path = spec.path(c);
      const withToken = `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(borg().adminToken)}`;
      const response = await send({ ...spec, path: () => withToken }, undefined, { method: 'GET' });
      expect(response.status, `${key} with ?token=`).toBe(spec.access === 'public' ? 200 : 401);
    }
  });

  it('left no trace of any refused request: no job, claim, heartbeat, log, file, artifact or revocation (A1)', async () => {
    expect(await state()).toEqual(before);
  });

  it.each(Object.keys(ROUTES))('%s lets its own class of token through', async (key) => {
    const spec = ROUTES[key]!;
    const method = key.split(' ')[0]!;
    const record = key !== 'POST /api/v1/runners/register' && key !== 'POST /api/v1/tokens';
    const kinds = spec.access === 'public' ? [undefined] : KIND_ALLOWED[spec.access];
    for (const kind of kinds) {
      const response = await send(spec, kind && `Bearer ${tokenOf(kind)}`, { method, record });
      expect(response.status, `${key} with a ${kind ?? 'no'} token: ${response.text}`).toBeLessThan(500);
      expect([401, 403], `${key} with a ${kind ?? 'no'} token: ${response.text}`).not.toContain(response.status);
      if (!record) secrets.push((JSON.parse(response.text) as { token: string }).token);
    }
    const needed = spec.access === 'viewer-or-runner' ? 'viewer' : spec.access;
    if (!isRole(needed)) return;
    for (const role of ROLE_NAMES.slice(ROLE_NAMES.indexOf(needed))) {
      const response = await send(spec, `Bearer ${c.roles[role]}`, { method, record });
      expect([401, 403], `${key} with a ${role} token: ${response.text}`).not.toContain(response.status);
      if (!record) secrets.push((JSON.parse(response.text) as { token: string }).token);
    }
  });

  it('never shows a token or its hash in a response or a live event (A11)', async () => {
    const { admin } = borg();
    const live = new WebSocket(`${borg().url.replace(/^http/, 'ws')}/ws`, {
      headers: { authorization: `Bearer ${borg().adminToken}` },
    });
    const events: string[] = [];
    live.on('message', (data) => events.push(data.toString()));
    await new Promise((resolve) => live.once('open', resolve));
    live.send(JSON.stringify({ type: 'subscribe', topics: ['runners'] }));
    await expect.poll(() => events.some((e) => e.includes('"subscribed"'))).toBe(true);
    const fresh = await borg().registerRunner();
    secrets.push(fresh.token);
    await fresh.client.heartbeat(fresh.id, { status: 'online' });
    await expect.poll(() => events.filter((e) => e.includes(fresh.id)).length).toBeGreaterThan(0);
    live.close();

    seen.push(JSON.stringify(await admin.listRunners()), JSON.stringify(await admin.getRunner(fresh.id)));
    seen.push(JSON.stringify(await admin.listTokens()), JSON.stringify(await admin.getRunner(c.a.id)));
    const everything = [...seen, ...events].join('\n');
    expect(secrets.length).toBeGreaterThan(10);
    for (const secret of secrets) {
      expect(everything.includes(secret), `a token appears in a response`).toBe(false);
      expect(everything.includes(sha256(secret)), `a token hash appears in a response`).toBe(false);
    }
  });

  it('ends the old session when a device registers again mid-task: its token is refused everywhere, its task is lost (A4, A9, A10)', async () => {
    const { admin } = borg();
    const labels = { clone: randomUUID() };
    const original = await borg().registerRunner({ labels });
    await admin.createJob({ name: 'cloned', command: 'sleep 600', labels });
    const task = (await original.client.nextTasks(original.id, { wait: 0 }))!.items[0]!;
    await original.client.reportTaskStatus(task.id, { status: 'running' });
    await original.client.appendTaskLogs(task.id, { seq: 0, lines: [{ stream: 'stdout', message: 'before' }] });

    // A second process with the same device id (a clone, or the same machine after a crash).
    const clone = await borg().registerRunner({ device_id: original.deviceId, labels });
    expect(clone.id).toBe(original.id);
    const logsBefore = await borg().db.query('SELECT count(*)::integer AS n FROM task_logs WHERE task_id = $1', [
      task.id,
    ]);

    const old = `Bearer ${original.token}`;
    const writes: Array<[string, RouteSpec, string]> = [
      [
        'heartbeat',
        { access: 'runner', path: () => `/api/v1/runners/${original.id}/heartbeat`, body: () => ({ json: {} }) },
        'POST',
      ],
      ['claim', { access: 'runner', path: () => `/api/v1/runners/${original.id}/tasks/next?wait=0` }, 'GET'],
      [
        'status',
        {
          access: 'runner',
          path: () => `/api/v1/tasks/${task.id}/status`,
          body: () => ({ json: { status: 'succeeded', exit_code: 0 } }),
        },
        'POST',
      ],
      [
        'logs',
        {
          access: 'runner',
          path: () => `/api/v1/tasks/${task.id}/logs`,
          body: () => ({ json: { seq: 1, lines: [{ stream: 'stdout', message: 'after' }] } }),
        },
        'POST',
      ],
      [
        'artifact',
        { access: 'runner', path: () => '/api/v1/artifacts/upload', body: () => ({ form: artifactForm(task.id) }) },
        'POST',
      ],
      ['download', { access: 'runner', path: () => `/api/v1/files/${c.fileId}/download` }, 'GET'],
    ];
    for (const [what, spec, method] of writes) {
      const response = await send(spec, old, { method });
      expect(response.status, `${what} with the replaced token: ${response.text}`).toBe(401);
    }
    // Nothing the old process sent was taken: the attempt ended as lost, by the server.
    const after = await admin.getTask(task.id);
    expect(after).toMatchObject({ status: 'lost', reason: 'runner_restarted' });
    expect(
      await borg().db.query('SELECT count(*)::integer AS n FROM task_logs WHERE task_id = $1', [task.id]),
    ).toMatchObject({ rows: logsBefore.rows });
    expect((await admin.listArtifacts(task.id)).items).toEqual([]);
    // One identity, one live token: never two sessions for one runner.
    const live = await borg().db.query<{ n: number }>(
      'SELECT count(*)::integer AS n FROM api_tokens WHERE runner_id = $1 AND revoked_at IS NULL',
      [original.id],
    );
    expect(live.rows[0]!.n).toBe(1);
    expect((await clone.client.heartbeat(clone.id, {})).ok).toBe(true);
  });
});
