import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DASHBOARD_CSP, webAppRoutes } from '../src/http/web-app.ts';

async function appOver(dir: string) {
  const app = Fastify();
  await app.register(webAppRoutes, { dir });
  return app;
}

describe('the dashboard at /', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'borg-web-'));
    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><div id="root"></div>');
    await writeFile(join(dir, 'assets', 'index-abc123.js'), 'console.log(1)');
    await writeFile(join(dir, 'favicon.svg'), '<svg/>');
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('serves index.html for / and for client-side routes, revalidated, with CSP, nosniff and no framing', async () => {
    const app = await appOver(dir);
    for (const url of ['/', '/jobs', '/jobs/123?task=4', '/runners']) {
      const response = await app.inject({ url });
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['content-type']).toMatch(/^text\/html/);
      expect(response.body).toContain('<div id="root">');
      expect(response.headers['cache-control']).toBe('no-cache');
      expect(response.headers['content-security-policy']).toBe(DASHBOARD_CSP);
      expect(response.headers['x-frame-options']).toBe('DENY');
      expect(response.headers['x-content-type-options']).toBe('nosniff');
    }
    expect(DASHBOARD_CSP).toContain("default-src 'self'");
    expect(DASHBOARD_CSP).toContain("frame-ancestors 'none'");
    expect(DASHBOARD_CSP).not.toContain('unsafe-inline');
  });

  it('caches hashed assets for a year and 404s missing ones instead of sending the page', async () => {
    const app = await appOver(dir);
    const asset = await app.inject({ url: '/assets/index-abc123.js' });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['content-type']).toMatch(/javascript/);
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect((await app.inject({ url: '/assets/gone-000.js' })).statusCode).toBe(404);
    const icon = await app.inject({ url: '/favicon.svg' });
    expect(icon.statusCode).toBe(200);
    expect(icon.headers['cache-control']).toBe('no-cache');
  });

  it('keeps unknown API paths a JSON 404 and files outside the folder out of reach', async () => {
    const app = await appOver(dir);
    const api = await app.inject({ url: '/api/v1/nothing' });
    expect(api.statusCode).toBe(404);
    expect(api.json()).toEqual({ error: { code: 'NOT_FOUND', message: 'no route GET /api/v1/nothing' } });
    for (const url of ['/assets/..%2f..%2fetc%2fpasswd', '/..%2f..%2fetc%2fpasswd', '/%2e%2e/%2e%2e/etc/passwd']) {
      const response = await app.inject({ url });
      expect(response.body, url).not.toContain('root:');
    }
  });

  it('says how to build the dashboard when it is not built', async () => {
    const app = await appOver(join(dir, 'missing'));
    const response = await app.inject({ url: '/jobs' });
    expect(response.statusCode).toBe(200);
    expect(response.body).toContain('npm run build');
    expect(response.headers['content-security-policy']).toBe(DASHBOARD_CSP);
  });
});
