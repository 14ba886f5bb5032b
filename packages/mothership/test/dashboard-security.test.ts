import { readFile } from 'node:fs/promises';

import { describe, expect, it } from 'vitest';

import { rawRequest, useTestMothership } from '../../../test/test-mothership.ts';
import { servedRoutes } from './served-routes.ts';

/**
 * Test plan 4.D W6 (CSRF and CORS) and W7 (security headers), against a real mothership: the
 * dashboard's pages and every API answer carry the headers, no answer sets a cookie, and no
 * other site's page may read an answer.
 */
describe('the dashboard and the API in a browser', () => {
  const borg = useTestMothership();
  const evil = 'https://evil.example';

  it('serves every dashboard page with CSP default-src self, no inline script, no framing, nosniff and no referrer (W7)', async () => {
    for (const path of ['/', '/jobs', '/jobs/some-id', '/runners', '/runners/some-id', '/new']) {
      const response = await rawRequest(borg().url, { path });
      expect(response.status, path).toBe(200);
      const csp = response.headers.get('content-security-policy') ?? '';
      expect(csp, path).toContain("default-src 'self'");
      expect(csp, path).toContain("script-src 'self'");
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(csp, path).not.toMatch(/unsafe-inline|unsafe-eval/);
      expect(response.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(response.headers.get('referrer-policy'), path).toBe('no-referrer');
      expect(response.headers.get('x-frame-options'), path).toBe('DENY');
    }
  });

  it('ships a page whose only script is an external module, with no inline handlers (W7)', async () => {
    // The source page; Vite's build keeps its shape and only rewrites the src.
    const page = await readFile(new URL('../../web/index.html', import.meta.url), 'utf8');
    const scripts = [...page.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attributes, body] of scripts) {
      expect(attributes).toMatch(/\bsrc=/);
      expect(body!.trim()).toBe('');
    }
    expect(page).not.toMatch(/\son[a-z]+\s*=/i);
  });

  it('answers every API route with nosniff and no-referrer, and no route sets a cookie (W6, W7)', async () => {
    const routes = servedRoutes(borg().mothership.app).filter((r) => r.startsWith('GET /api/v1'));
    expect(routes.length).toBeGreaterThan(10);
    for (const route of routes) {
      const path = route.slice(4).replace(/:id/g, '00000000-0000-0000-0000-000000000000');
      const response = await rawRequest(borg().url, { path, token: borg().adminToken });
      expect(response.headers.get('x-content-type-options'), route).toBe('nosniff');
      expect(response.headers.get('referrer-policy'), route).toBe('no-referrer');
      expect(response.headers.get('set-cookie'), route).toBeNull();
    }
  });

  it('gives another site no CORS permission: no Access-Control-Allow-Origin, preflight refused (W6)', async () => {
    const read = await rawRequest(borg().url, {
      path: '/api/v1/jobs',
      token: borg().adminToken,
      headers: { origin: evil },
    });
    expect(read.headers.get('access-control-allow-origin')).toBeNull();
    expect(read.headers.get('access-control-allow-credentials')).toBeNull();

    const preflight = await rawRequest(borg().url, {
      method: 'OPTIONS',
      path: '/api/v1/jobs',
      headers: {
        origin: evil,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    expect(preflight.status).toBeGreaterThanOrEqual(400);
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    expect(preflight.headers.get('access-control-allow-methods')).toBeNull();
  });

  it('takes no ambient credential: a cross-site form post without the bearer token changes nothing (W6)', async () => {
    const before = (await borg().admin.listJobs()).items.length;
    const response = await rawRequest(borg().url, {
      method: 'POST',
      path: '/api/v1/jobs',
      headers: { origin: evil, 'content-type': 'application/x-www-form-urlencoded', cookie: 'session=stolen' },
      body: 'name=csrf&command=id',
    });
    expect(response.status).toBe(401);
    expect((await borg().admin.listJobs()).items.length).toBe(before);
  });
});
