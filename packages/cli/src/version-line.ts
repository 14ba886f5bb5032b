import { readFile } from 'node:fs/promises';

import { httpFetch } from '@borg/protocol/http-fetch';
import { BORG_VERSION } from '@borg/protocol/version';

import { configPath } from './config-path.ts';

/**
 * `borg --version`: the CLI's version, and the mothership's beside it when one is configured
 * (BORG_ADDR, or the profile `borg login` saved). It is asked for with a short timeout and its
 * absence never fails the command. This module stays small (no zod, no client, no undici): the build runs
 * it alone, before loading the rest of the CLI (bin/borg.js).
 */
export { BORG_VERSION };

const ASK_TIMEOUT_MS = 1000;
/** A version as a release names it; anything else from the server is not printed as it came. */
const VERSION_PATTERN = /^[0-9A-Za-z.+_-]{1,64}$/;

export async function versionText(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const cli = `borg ${BORG_VERSION}\n`;
  const addr = await configuredAddr(env);
  if (!addr) return cli;
  return cli + (await mothershipLine(addr));
}

async function mothershipLine(addr: string): Promise<string> {
  let url: URL;
  try {
    url = new URL('/healthz', /^[a-z][a-z0-9+.-]*:\/\//i.test(addr) ? addr : `http://${addr}`);
  } catch {
    return `mothership: "${printable(addr)}" is not a URL\n`;
  }
  const where = printable(url.origin);
  try {
    const response = await httpFetch(url, { signal: AbortSignal.timeout(ASK_TIMEOUT_MS) });
    const body = (await response.json()) as { version?: unknown };
    const version = typeof body.version === 'string' && VERSION_PATTERN.test(body.version) ? body.version : null;
    return version ? `mothership ${version} at ${where}\n` : `mothership at ${where} (it does not say its version)\n`;
  } catch (error) {
    const timedOut = (error as Error).name === 'TimeoutError';
    return `mothership at ${where}: ${timedOut ? `no answer within ${ASK_TIMEOUT_MS / 1000} s` : 'not reachable'}\n`;
  }
}

/** BORG_ADDR, else the address of the profile in use; null when there is neither. */
async function configuredAddr(env: NodeJS.ProcessEnv): Promise<string | null> {
  if (env.BORG_ADDR) return env.BORG_ADDR;
  try {
    const file = JSON.parse(await readFile(configPath(env), 'utf8')) as {
      current_profile?: unknown;
      profiles?: Record<string, { addr?: unknown } | undefined>;
    };
    const profile = env.BORG_PROFILE ?? file.current_profile ?? 'default';
    const addr = typeof profile === 'string' ? file.profiles?.[profile]?.addr : undefined;
    return typeof addr === 'string' ? addr : null;
  } catch {
    return null; // no config file, or one the real commands will complain about
  }
}

/** Only printable ASCII: an address typed or saved by the user, echoed to their terminal. */
function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}
