import { createRequire } from 'node:module';

import type Pg from 'pg';

/**
 * The `pg` module, loaded so that it does not load undici. As it loads, pg asks whether it runs
 * on Cloudflare Workers: by `navigator.userAgent` where there is a `navigator` (Node 21 and
 * later), and otherwise (Node 20) by constructing a `Response`, which makes Node compile its
 * fetch implementation, undici: 9.6 MB of an idle mothership's RSS on Node 20, for nothing.
 * While pg loads, `Response` is hidden (pg then takes Node's sockets, as it does anyway), and
 * put back as it was (a lazy getter: undici still loads on the first real use). `require`,
 * not `import`: the loading has to happen between the two steps, and pg is CommonJS.
 */
export function loadPg(): typeof Pg {
  const require = createRequire(import.meta.url);
  const response = Object.getOwnPropertyDescriptor(globalThis, 'Response');
  const hide = !('navigator' in globalThis) && response?.configurable === true;
  if (hide) Reflect.deleteProperty(globalThis, 'Response');
  try {
    return require('pg') as typeof Pg;
  } finally {
    if (hide) Object.defineProperty(globalThis, 'Response', response);
  }
}
