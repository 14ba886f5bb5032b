import { randomBytes, randomUUID } from 'node:crypto';
import { request as httpRequest } from 'node:http';

import { describe, expect, it } from 'vitest';

import { rawRequest, useTestMothership } from '../../../test/test-mothership.ts';

/**
 * Test plan A13 (brute force) and F20's "shed load with 429 + Retry-After": failed
 * authentications and registrations are limited per client address, and nothing a healthy
 * runner or user does is ever counted.
 */

const FAILURES = 20;
const REGISTRATIONS = 30;

/** One request from a chosen local address (127.0.0.x are all this machine's loopback). */
function requestFrom(
  localAddress: string,
  url: string,
  init: { method?: string; token?: string; body?: string },
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (init.token) headers.authorization = `Bearer ${init.token}`;
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    const request = httpRequest(url, { method: init.method ?? 'GET', headers, localAddress }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body, headers: response.headers }));
    });
    request.on('error', reject);
    request.end(init.body);
  });
}

const randomToken = () => `borg_run_${randomBytes(32).toString('base64url')}`;

describe('rate limits per client address', () => {
  const borg = useTestMothership({
    config: { authFailuresPerMinute: FAILURES, registrationsPerMinute: REGISTRATIONS },
  });

  it('answer 429 with Retry-After once an address has failed to authenticate too often, and never throttle working tokens', async () => {
    const url = borg().url;
    // A healthy runner and a user, known to work before the attack starts.
    const runner = await borg().registerRunner();
    await runner.client.heartbeat(runner.id, {});
    await borg().admin.listJobs();
    const fresh = await borg().admin.createToken({ name: 'never used yet' });

    for (let i = 0; i < FAILURES; i++) {
      // No token at all is no guess: it is answered as before and does not count (else the
      // last guess below would already be refused with 429).
      if (i === FAILURES - 1) {
        const none = await rawRequest(url, { path: '/api/v1/jobs' });
        expect(none.status).toBe(401);
        expect(none.headers.get('www-authenticate')).toBe('Bearer');
      }
      const response = await rawRequest(url, { path: '/api/v1/jobs', token: randomToken() });
      expect(response.status, `guess ${i + 1}`).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    }

    const blocked = await rawRequest(url, { path: '/api/v1/jobs', token: randomToken() });
    expect(blocked.status).toBe(429);
    expect(blocked.body).toMatchObject({ error: { code: 'RATE_LIMITED', message: expect.stringMatching(/retry in/) } });
    const retryAfter = Number(blocked.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    // The blocked address cannot even try a token it has not used successfully before ...
    expect((await rawRequest(url, { path: '/api/v1/jobs', token: fresh.token })).status).toBe(429);
    const register = JSON.stringify({ device_id: `d-${randomUUID()}`, name: 'r' });
    expect(
      (
        await rawRequest(url, {
          method: 'POST',
          path: '/api/v1/runners/register',
          token: randomToken(),
          body: register,
        })
      ).status,
    ).toBe(429);

    // ... while the runner and the user it already knows carry on, and health checks are open.
    await borg().admin.createJob({ name: 'during the attack', command: 'true' });
    expect((await runner.client.heartbeat(runner.id, {})).ok).toBe(true);
    expect((await runner.client.nextTasks(runner.id, { wait: 0 }))!.items).toHaveLength(1);
    expect((await rawRequest(url, { path: '/healthz' })).status).toBe(200);

    // A forged X-Forwarded-For does not make the guesser someone else (no proxy is trusted here).
    const forged = await rawRequest(url, {
      path: '/api/v1/jobs',
      token: randomToken(),
      headers: { 'x-forwarded-for': '203.0.113.9' },
    });
    expect(forged.status).toBe(429);

    // Another address is not affected by this one's guesses.
    const elsewhere = await requestFrom('127.0.0.2', `${url}/api/v1/jobs`, { token: fresh.token });
    expect(elsewhere.status).toBe(200);
    const elsewhereGuess = await requestFrom('127.0.0.2', `${url}/api/v1/jobs`, { token: randomToken() });
    expect(elsewhereGuess.status).toBe(401);
  });

  // 10,000 requests take ~5 s alone, several times that on a machine busy with other suites.
  it(
    'shed 10,000 registrations with random tokens: no runner created, no 5xx, at most the limit of real lookups',
    { timeout: 180_000 },
    async () => {
      const address = '127.0.0.3';
      const url = `${borg().url}/api/v1/runners/register`;
      const count = async () =>
        (await borg().db.query<{ n: number }>('SELECT count(*)::integer AS n FROM runners')).rows[0]!.n;
      const before = await count();
      const statuses = new Map<number, number>();
      let next = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next < 10_000) {
            next++;
            const body = JSON.stringify({ device_id: `brute-${randomUUID()}`, name: 'brute' });
            const { status } = await requestFrom(address, url, { method: 'POST', token: randomToken(), body });
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
          }
        }),
      );
      expect([...statuses.keys()].sort()).toEqual([401, 429]);
      // Requests in flight together may all be looked up before the first refusal is counted.
      expect(statuses.get(401)).toBeLessThanOrEqual(FAILURES + 32);
      expect(statuses.get(429)).toBeGreaterThanOrEqual(10_000 - FAILURES - 32);
      expect(await count()).toBe(before);
      expect((await rawRequest(borg().url, { path: '/healthz' })).status).toBe(200);
    },
  );

  it('limit registrations per address even with the right token, and leave registered runners alone', async () => {
    const address = '127.0.0.4';
    const url = borg().url;
    const runners: Array<{ id: string; token: string }> = [];
    let refused: { status: number; body: string; headers: Record<string, unknown> } | undefined;
    for (let i = 0; i < REGISTRATIONS + 5 && !refused; i++) {
      const body = JSON.stringify({ device_id: `fleet-${randomUUID()}`, name: `fleet-${i}` });
      const response = await requestFrom(address, `${url}/api/v1/runners/register`, {
        method: 'POST',
        token: borg().registrationToken,
        body,
      });
      if (response.status === 201) runners.push(JSON.parse(response.body) as { id: string; token: string });
      else refused = response;
    }
    expect(runners).toHaveLength(REGISTRATIONS);
    expect(refused?.status).toBe(429);
    expect(JSON.parse(refused!.body)).toMatchObject({ error: { code: 'RATE_LIMITED' } });
    expect(Number(refused!.headers['retry-after'])).toBeGreaterThanOrEqual(1);

    // The fleet that got in heartbeats and polls from the same address as often as it likes.
    for (let round = 0; round < 3; round++) {
      for (const runner of runners) {
        const beat = await requestFrom(address, `${url}/api/v1/runners/${runner.id}/heartbeat`, {
          method: 'POST',
          token: runner.token,
          body: '{}',
        });
        expect(beat.status).toBe(200);
        const poll = await requestFrom(address, `${url}/api/v1/runners/${runner.id}/tasks/next?wait=0`, {
          token: runner.token,
        });
        expect([200, 204]).toContain(poll.status);
      }
    }
  });
});

describe('rate limits behind a trusted load balancer (BORG_TRUST_PROXY)', () => {
  const borg = useTestMothership({ config: { authFailuresPerMinute: FAILURES, trustProxy: '127.0.0.1' } });

  it('count each client named in X-Forwarded-For, not the balancer', async () => {
    const from = (client: string, token: string) =>
      rawRequest(borg().url, { path: '/api/v1/jobs', token, headers: { 'x-forwarded-for': client } });
    await borg().admin.listJobs(); // the admin token has worked before the guessing starts
    for (let i = 0; i < FAILURES; i++) expect((await from('203.0.113.5', randomToken())).status).toBe(401);
    expect((await from('203.0.113.5', randomToken())).status).toBe(429);
    // Another client behind the same balancer is unaffected, and so is a working token.
    expect((await from('203.0.113.6', randomToken())).status).toBe(401);
    expect((await from('203.0.113.5', borg().adminToken)).status).toBe(200);
  });
});
