import { existsSync, statSync } from 'node:fs';
import { resolve, sep } from 'node:path';

import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

import { borgPath } from '../borg-root.ts';

/** Where `npm run build` puts the dashboard (packages/web/dist); BORG_WEB_DIR points elsewhere. */
export const DEFAULT_WEB_DIR = borgPath('packages', 'web', 'dist');

/**
 * The dashboard's pages may load only their own scripts, styles and connections (the WebSocket
 * included), never inline script, and may not be framed by another site.
 */
export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Borg</title>
<p>The Borg dashboard is not built yet. Run <code>npm run build</code> at the repository root, then reload.</p>
<p>The API is at <code>/api/v1</code>; health at <code>/healthz</code>.</p>`;

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function securityHeaders(reply: FastifyReply): FastifyReply {
  // nosniff is also set for every answer by build-app; here too, so these routes are safe alone.
  return reply
    .header('content-security-policy', DASHBOARD_CSP)
    .header('x-frame-options', 'DENY')
    .header('x-content-type-options', 'nosniff');
}

/**
 * Serves the built single-page app at `/`. Hashed files under /assets/ are cached for a year;
 * index.html is revalidated every time, so a new build is picked up at once. Any other path
 * that is not a file is a client-side route and gets index.html; unknown /api/ paths stay 404.
 * These routes are public: the page itself holds no data, and its API calls carry the token.
 */
export async function webAppRoutes(app: FastifyInstance, options: { dir?: string }): Promise<void> {
  const dir = resolve(options.dir ?? process.env.BORG_WEB_DIR ?? DEFAULT_WEB_DIR);
  await app.register(fastifyStatic, { root: dir, serve: false });

  app.get('/*', { config: { access: 'public' }, schema: { hide: true } }, async (request, reply) => {
    const path = (request.params as { '*'?: string })['*'] ?? '';
    if (path === 'api' || path.startsWith('api/')) {
      return reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no route GET /${path}` } });
    }
    securityHeaders(reply);
    const index = resolve(dir, 'index.html');
    if (!existsSync(index)) {
      return reply.code(200).header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(NOT_BUILT);
    }
    const file = resolve(dir, path);
    const inside = file.startsWith(dir + sep);
    if (path.startsWith('assets/')) {
      if (!inside || !isFile(file)) {
        return reply.code(404).send({ error: { code: 'NOT_FOUND', message: `no file /${path}` } });
      }
      reply.header('cache-control', 'public, max-age=31536000, immutable');
      return reply.sendFile(path, { cacheControl: false });
    }
    reply.header('cache-control', 'no-cache');
    if (path !== '' && inside && isFile(file)) return reply.sendFile(path, { cacheControl: false });
    return reply.type('text/html; charset=utf-8').sendFile('index.html', { cacheControl: false });
  });
}
