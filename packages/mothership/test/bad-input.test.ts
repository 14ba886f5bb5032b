import { randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';

import { beforeAll, describe, expect, it } from 'vitest';

import { rawRequest, type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';

/**
 * Test plan 4.B (B1-B3, B5) and the API contract's error rule: whatever a client sends, the
 * answer is a 4xx in the one error shape, never a 500, and the server goes on serving.
 */

interface JsonRoute {
  path: () => string;
  token: () => string;
  valid: () => Record<string, unknown>;
}

const ERROR_SHAPE = { error: { code: expect.any(String), message: expect.any(String) } };

describe('bad input is refused with a 4xx, never a 500', () => {
  const borg = useTestMothership();
  let runner: TestRunner;
  let taskId: string;
  let fileId: string;

  /** One request, checked for a 4xx in the error shape, then a health check. */
  async function refused(
    init: Parameters<typeof rawRequest>[1],
    status?: number,
  ): Promise<{ code: string; message: string; details?: unknown }> {
    const response = await rawRequest(borg().url, init);
    const label = `${init.method ?? 'GET'} ${init.path.slice(0, 120)} → ${response.status} ${JSON.stringify(response.body).slice(0, 300)}`;
    if (status) expect(response.status, label).toBe(status);
    expect(response.status, label).toBeGreaterThanOrEqual(400);
    expect(response.status, label).toBeLessThan(500);
    expect(response.body, label).toMatchObject(ERROR_SHAPE);
    expect(JSON.stringify(response.body), label).not.toMatch(/\bat .+\.(ts|js):\d+|SELECT |INSERT |UPDATE /);
    expect((await rawRequest(borg().url, { path: '/healthz' })).status).toBe(200);
    return (response.body as { error: { code: string; message: string; details?: unknown } }).error;
  }

  const ROUTES: Record<string, JsonRoute> = {
    'POST /jobs': {
      path: () => '/api/v1/jobs',
      token: () => borg().adminToken,
      valid: () => ({ name: 'j', command: 'true' }),
    },
    'POST /runners/register': {
      path: () => '/api/v1/runners/register',
      token: () => borg().registrationToken,
      valid: () => ({ device_id: `d-${randomUUID()}`, name: 'r' }),
    },
    'POST /runners/:id/heartbeat': {
      path: () => `/api/v1/runners/${runner.id}/heartbeat`,
      token: () => runner.token,
      valid: () => ({}),
    },
    'POST /tasks/:id/status': {
      path: () => `/api/v1/tasks/${taskId}/status`,
      token: () => runner.token,
      valid: () => ({ status: 'running' }),
    },
    'POST /runners/:id/tasks/status': {
      path: () => `/api/v1/runners/${runner.id}/tasks/status`,
      token: () => runner.token,
      valid: () => ({ reports: [{ task_id: taskId, status: 'running' }] }),
    },
    'POST /tasks/:id/logs': {
      path: () => `/api/v1/tasks/${taskId}/logs`,
      token: () => runner.token,
      valid: () => ({ seq: 0, lines: [] }),
    },
    'POST /tokens': { path: () => '/api/v1/tokens', token: () => borg().adminToken, valid: () => ({ name: 't' }) },
  };

  beforeAll(async () => {
    runner = await borg().registerRunner();
    fileId = (await borg().admin.uploadFile(new Blob(['data']), 'data.txt')).id;
    await borg().admin.createJob({ name: 'held', command: 'true' });
    taskId = (await runner.client.nextTasks(runner.id, { wait: 0 }))!.items[0]!.id;
  });

  const countJobs = async () =>
    (await borg().db.query<{ n: number }>('SELECT count(*)::integer AS n FROM jobs')).rows[0]!.n;

  describe.each(Object.keys(ROUTES))('%s', (key) => {
    const route = () => ROUTES[key]!;
    const post = (body: string) => ({ method: 'POST', path: route().path(), token: route().token(), body });

    it('refuses malformed JSON: truncated, trailing garbage, NaN, comments, a BOM inside, 10,000-deep nesting', async () => {
      const valid = JSON.stringify(route().valid());
      const bodies: Record<string, string> = {
        truncated: valid.slice(0, -1),
        'trailing garbage': `${valid}}x`,
        'two documents': `${valid}${valid}`,
        NaN: valid.replace(/}$/, `${valid === '{}' ? '' : ','}"n":NaN}`),
        'single quotes': "{'a':1}",
        'a comment': `// hi\n${valid}`,
        'a BOM between tokens': valid.replace('{', '{\uFEFF'),
        'a raw control character in a string': '{"a":"\u0001"}',
        'an empty body': '',
        'only whitespace': '   ',
        'a bare value': 'true',
        '10,000 nested arrays': `${'['.repeat(10_000)}${']'.repeat(10_000)}`,
        '10,000 nested objects': `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`,
      };
      const before = await countJobs();
      for (const [what, body] of Object.entries(bodies)) {
        const error = await refused(post(body), 400);
        expect(['INVALID_JSON', 'VALIDATION_FAILED'], what).toContain(error.code);
      }
      expect(await countJobs()).toBe(before);
    });

    it('refuses unknown fields, and __proto__ or constructor keys without polluting any prototype', async () => {
      const valid = JSON.stringify(route().valid()).slice(1, -1);
      const sep = valid ? ',' : '';
      const bodies = [
        `{${valid}${sep}"unexpected":1}`,
        `{${valid}${sep}"__proto__":{"polluted":true}}`,
        `{${valid}${sep}"constructor":{"prototype":{"polluted":true}}}`,
        `{${valid}${sep}"nested":{"__proto__":{"polluted":true}}}`,
      ];
      for (const body of bodies) await refused(post(body), 400);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
    });

    it('refuses a body over its limit with 413 from the Content-Length alone, before reading it', async () => {
      const limit = key === 'POST /tasks/:id/logs' ? 8 * 1024 * 1024 : 1024 * 1024;
      const answer = await postWithoutFinishing(borg().url + route().path(), route().token(), {
        declared: 1024 ** 3,
        send: 64 * 1024,
      });
      expect(answer.status).toBe(413);
      expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE' } });
      // The server answers past the limit and closes without reading the rest. A client still
      // writing more than the socket buffers hold may then see a broken pipe before the answer:
      // on some machines every time for the logs route's 8 MiB, so the checks that send a whole
      // limit's worth are for the 1 MiB routes; the one above covers the logs route.
      if (limit > 1024 * 1024) return;
      // Without a Content-Length (chunked), the server stops at the limit, long before the end.
      const chunked = await postWithoutFinishing(borg().url + route().path(), route().token(), {
        send: 64 * 1024 * 1024,
      });
      expect(chunked.status).toBe(413);
      expect(chunked.sentWhenAnswered).toBeLessThan(64 * 1024 * 1024);
      // And a real body just over the limit, sent whole.
      await refused(post(JSON.stringify({ ...route().valid(), pad: ' '.repeat(limit) })), 413);
      expect((await rawRequest(borg().url, { path: '/healthz' })).status).toBe(200);
    });
  });

  it('accepts a leading BOM, which RFC 8259 section 8.1 lets a parser ignore, as if it were absent', async () => {
    const response = await rawRequest(borg().url, {
      method: 'POST',
      path: '/api/v1/jobs',
      token: borg().adminToken,
      body: `\uFEFF${JSON.stringify({ name: 'bom', command: 'true' })}`,
    });
    expect(response.status).toBe(201);
    expect(response.body).toMatchObject({ name: 'bom', command: 'true' });
  });

  it('refuses wrong types, out-of-range numbers and oversized collections with 400 naming the field', async () => {
    const job = (extra: Record<string, unknown>) => ({ name: 'j', command: 'true', ...extra });
    const manyLabels = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, 'v']));
    const reg = (extra: Record<string, unknown>) => ({ device_id: 'd', name: 'r', ...extra });
    const cases: Record<string, Array<[string, unknown, string]>> = {
      'POST /jobs': [
        ['a numeric name', { name: 5, command: 'x' }, 'name'],
        ['an object command', job({ command: {} }), 'command'],
        ['a string priority', job({ priority: '1' }), 'priority'],
        ['a fractional priority', job({ priority: 1.5 }), 'priority'],
        ['a huge priority', job({ priority: 2 ** 53 }), 'priority'],
        ['zero attempts', job({ max_attempts: 0 }), 'max_attempts'],
        ['negative attempts', job({ max_attempts: -1 }), 'max_attempts'],
        ['a billion array elements', job({ array_size: 1e9 }), 'array_size'],
        ['a negative timeout', job({ timeout_seconds: -5 }), 'timeout_seconds'],
        ['an unknown job type', job({ type: 'ssh' }), 'type'],
        ['env as an array', job({ env: ['A=1'] }), 'env'],
        ['a numeric env value', job({ env: { A: 1 } }), 'env'],
        ['10,000 labels', job({ labels: manyLabels }), 'labels'],
        ['a 1 MB label value', job({ labels: { gpu: 'x'.repeat(1_000_000) } }), 'labels'],
        ['files as an object', job({ files: {} }), 'files'],
      ],
      'POST /runners/register': [
        ['negative capacity', reg({ max_concurrent_tasks: -1 }), 'max_concurrent_tasks'],
        ['a billion capacity', reg({ max_concurrent_tasks: 1e9 }), 'max_concurrent_tasks'],
        ['10,000 runner labels', reg({ labels: manyLabels }), 'labels'],
        ['resources nested 10,000 deep', `{"device_id":"d","name":"r","resources":${nest(10_000)}}`, 'resources'],
      ],
      'POST /runners/:id/heartbeat': [
        ['a negative active task count', { active_tasks: -1 }, 'active_tasks'],
        ['resources nested 100,000 deep', `{"resources":${nest(100_000)}}`, 'resources'],
      ],
      'POST /tasks/:id/logs': [
        ['a negative log batch', { seq: -1, lines: [] }, 'seq'],
        ['a log batch past 2^53', { seq: 2 ** 60, lines: [] }, 'seq'],
        ['an unknown stream', { seq: 0, lines: [{ stream: 'stdin', message: '' }] }, 'stream'],
      ],
      'POST /tasks/:id/status': [
        ['a status only the server may set', { status: 'lost' }, 'status'],
        ['an exit code past 32 bits', { status: 'failed', exit_code: 2 ** 40 }, 'exit_code'],
      ],
      'POST /runners/:id/tasks/status': [
        ['no reports', { reports: [] }, 'reports'],
        ['a report on no task', { reports: [{ status: 'running' }] }, 'task_id'],
        ['a status only the server may set', { reports: [{ task_id: randomUUID(), status: 'lost' }] }, 'status'],
      ],
      'POST /tokens': [['a token kind that cannot be created', { name: 't', kind: 'runner' }, 'kind']],
    };
    const before = await countJobs();
    for (const [key, list] of Object.entries(cases)) {
      const route = ROUTES[key]!;
      for (const [what, body, field] of list) {
        const text = typeof body === 'string' ? body : JSON.stringify(body);
        const error = await refused({ method: 'POST', path: route.path(), token: route.token(), body: text }, 400);
        expect(error.code, what).toBe('VALIDATION_FAILED');
        expect(error.message, what).toContain(field);
      }
    }
    expect(await countJobs()).toBe(before);
  });

  it('refuses strings the database cannot store (NUL) with 400 instead of failing inside it', async () => {
    const nul = 'a\u0000b';
    await refused(
      {
        method: 'POST',
        path: '/api/v1/jobs',
        token: borg().adminToken,
        body: JSON.stringify({ name: nul, command: 'true' }),
      },
      400,
    );
    await refused(
      {
        method: 'POST',
        path: '/api/v1/jobs',
        token: borg().adminToken,
        body: JSON.stringify({ name: 'j', command: 'true', env: { A: nul } }),
      },
      400,
    );
    await refused(
      { method: 'POST', path: '/api/v1/tokens', token: borg().adminToken, body: JSON.stringify({ name: nul }) },
      400,
    );
    const register = { device_id: `d-${randomUUID()}`, name: 'r', resources: { probe: nul } };
    await refused(
      {
        method: 'POST',
        path: '/api/v1/runners/register',
        token: borg().registrationToken,
        body: JSON.stringify(register),
      },
      400,
    );
    await refused({ path: `/api/v1/jobs?name=${encodeURIComponent(nul)}`, token: borg().adminToken }, 400);
  });

  it('refuses job file paths that would leave the work directory (B5), and accepts plain relative ones', async () => {
    const corpus = [
      '../x',
      'a/../../x',
      '/etc/passwd',
      'C:\\x',
      '..\\x',
      'a/./../..',
      '%2e%2e/x',
      '%252e%252e/',
      'x\u0000.txt',
      '',
      '.',
      'p'.repeat(4096),
      '\u2025/',
      '\uff0e\uff0e\uff0f',
    ];
    const before = await countJobs();
    for (const path of corpus) {
      const body = JSON.stringify({ name: 'escape', command: 'true', files: [{ file_id: fileId, path }] });
      const error = await refused({ method: 'POST', path: '/api/v1/jobs', token: borg().adminToken, body }, 400);
      expect(error.message, JSON.stringify(path)).toContain('files');
    }
    expect(await countJobs()).toBe(before);
    for (const path of ['data.txt', 'inputs/a b/c.csv', 'data/x..y', './a', 'données/été.csv']) {
      const job = await borg().admin.createJob({ name: 'ok', command: 'true', files: [{ file_id: fileId, path }] });
      expect(job.files).toEqual([{ file_id: fileId, path }]);
    }
  });

  it('refuses unknown or malformed file ids in a job with 400', async () => {
    for (const id of [randomUUID(), 'not-a-uuid', '00000000-0000-0000-0000-000000000000']) {
      const body = JSON.stringify({ name: 'j', command: 'true', files: [{ file_id: id, path: 'x' }] });
      const error = await refused({ method: 'POST', path: '/api/v1/jobs', token: borg().adminToken, body }, 400);
      expect(error.code).toBe('VALIDATION_FAILED');
    }
  });

  it('answers malformed ids in every path with a 4xx', async () => {
    const paths = Object.entries((borg().mothership.app.swagger() as { paths: Record<string, object> }).paths).filter(
      ([p]) => p.includes('{id}'),
    );
    expect(paths.length).toBeGreaterThan(10);
    const ids = [
      'not-a-uuid',
      '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      '%00',
      `{${randomUUID()}}`,
      `${randomUUID()}x`,
      'x'.repeat(600),
      '%E0%A4%A',
      "1'; DROP TABLE jobs; --",
    ];
    for (const [template, methods] of paths) {
      for (const method of Object.keys(methods).map((m) => m.toUpperCase())) {
        for (const id of ids) {
          for (const token of [borg().adminToken, runner.token]) {
            const path = template.replace('{id}', id.includes('%') ? id : encodeURIComponent(id));
            await refused({ method, path, token, body: method === 'POST' ? '{}' : undefined });
          }
        }
      }
    }
  });

  it('refuses bad query strings: forged cursors, non-numbers, unknown parameters', async () => {
    const forged = Buffer.from(JSON.stringify(['not-a-time', 'not-a-uuid'])).toString('base64url');
    const admin = borg().adminToken;
    const queries: Array<[string, string]> = [
      [`/api/v1/jobs?cursor=${forged}`, admin],
      ['/api/v1/jobs?cursor=%%%', admin],
      [`/api/v1/runners?cursor=${forged}`, admin],
      ['/api/v1/jobs?limit=abc', admin],
      ['/api/v1/jobs?limit=-1', admin],
      ['/api/v1/jobs?status=bogus', admin],
      ['/api/v1/jobs?label=noequals', admin],
      ['/api/v1/jobs?surprise=1', admin],
      [`/api/v1/tasks/${taskId}/logs?after=abc`, admin],
      [`/api/v1/tasks/${taskId}/logs?limit=1e9`, admin],
      [`/api/v1/runners/${runner.id}/tasks/next?wait=1e9`, runner.token],
      [`/api/v1/runners/${runner.id}/tasks/next?max=-1`, runner.token],
    ];
    for (const [path, token] of queries) await refused({ path, token }, 400);
  });

  it('stores shell metacharacters and leading dashes verbatim, as data (B9)', async () => {
    const tricky = ['$(id)', '`id`', ';id', "'$(id)'", 'a\nb', '--privileged', '-e FOO=bar'];
    for (const value of tricky) {
      const job = await borg().admin.createJob({
        name: value,
        type: 'binary',
        command: ['echo', value],
        env: { TRICKY: value },
        labels: { note: value.replace('\n', ' ') },
        files: [{ file_id: fileId, path: value.startsWith('-') ? value : `in/${value.replace('\n', '_')}` }],
      });
      const stored = await borg().admin.getJob(job.id);
      expect(stored).toMatchObject({ name: value.trim(), command: ['echo', value], env: { TRICKY: value } });
    }
    const named = await borg().registerRunner({ name: '$(id)', labels: { shell: '`id`' } });
    expect(await borg().admin.getRunner(named.id)).toMatchObject({ name: '$(id)', labels: { shell: '`id`' } });
  });

  it('refuses dangerous container options and an image that reads as a flag (B10)', async () => {
    const container = { name: 'c', type: 'container' as const, image: 'alpine:3.20', command: ['true'] };
    const dangerous: Array<[string, Record<string, unknown>]> = [
      ['privileged', { privileged: true }],
      ['network', { network: 'host' }],
      ['pid', { pid: 'host' }],
      ['volumes', { volumes: ['/var/run/docker.sock:/var/run/docker.sock', '/:/host'] }],
      ['cap_add', { cap_add: ['SYS_ADMIN'] }],
      ['devices', { devices: ['/dev/sda'] }],
      ['security_opt', { security_opt: ['seccomp=unconfined'] }],
      ['image', { image: '--privileged' }],
      ['image', { image: '-v/:/host' }],
      ['image', { image: 'alpine; id' }],
      ['image', { image: 'alpine $(id)' }],
    ];
    const before = await countJobs();
    for (const [field, extra] of dangerous) {
      const body = JSON.stringify({ ...container, ...extra });
      const error = await refused({ method: 'POST', path: '/api/v1/jobs', token: borg().adminToken, body }, 400);
      expect(error.message, JSON.stringify(extra)).toContain(field);
    }
    expect(await countJobs()).toBe(before);
    const ok = await borg().admin.createJob({ ...container, image: 'registry.local:5000/team/tool:1.2@sha256:abc' });
    expect(ok.image).toBe('registry.local:5000/team/tool:1.2@sha256:abc');
  });

  it('refuses a non-multipart upload with 415', async () => {
    await refused({ method: 'POST', path: '/api/v1/files', token: borg().adminToken, body: '{}' }, 415);
  });
});

/** `{"a":{"a":…}}`, `depth` levels deep, as JSON text (JSON.stringify would overflow the stack). */
function nest(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

/**
 * POSTs up to `send` bytes (JSON whitespace) and never ends the request, so an answer can only
 * come from a server that refused the body before reading all of it.
 */
/**
 * The server answers 413 and closes while the client is still writing; on a busy machine the
 * client's next write can hit the closed socket (EPIPE, ECONNRESET) before it has read that
 * answer. That is the server refusing, as it should, so the request is tried again to read it.
 */
async function postWithoutFinishing(
  url: string,
  token: string,
  options: { declared?: number; send: number },
): Promise<{ status: number; body: string; sentWhenAnswered: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await postOnceWithoutFinishing(url, token, options);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      if (attempt >= 5 || !['EPIPE', 'ECONNRESET'].includes(code)) throw error;
    }
  }
}

function postOnceWithoutFinishing(
  url: string,
  token: string,
  options: { declared?: number; send: number },
): Promise<{ status: number; body: string; sentWhenAnswered: number }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      authorization: `Bearer ${token}`,
    };
    if (options.declared !== undefined) headers['content-length'] = options.declared;
    const request = httpRequest(url, { method: 'POST', headers });
    let sent = 0;
    let answered = false;
    request.on('response', (response) => {
      answered = true;
      const sentWhenAnswered = sent;
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => {
        resolve({ status: response.statusCode ?? 0, body, sentWhenAnswered });
        request.destroy();
      });
    });
    request.on('error', (error) => {
      if (!answered) reject(error);
    });
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const pump = () => {
      while (!answered && sent < options.send) {
        sent += chunk.length;
        if (!request.write(chunk)) {
          request.once('drain', pump);
          return;
        }
      }
    };
    pump();
  });
}
