import { BorgClient } from '@borg/protocol';
import { httpFetch } from '@borg/protocol/http-fetch';
import { sendsTokensInClear } from '@borg/protocol/transport';
import type { Command } from 'commander';

import { type Target, usageError } from './cli-error.ts';
import { configPath, PROFILE_NAME_PATTERN, readConfigFile } from './config-file.ts';

/** Where Borg listens by default (`borg up`, `npm start`): a command works there without `borg login`. */
export const DEFAULT_ADDR = 'http://127.0.0.1:8080';

/** The options every client command accepts, set on the program (see main.ts). */
export interface GlobalOptions {
  profile?: string;
  addr?: string;
  output?: string;
  color?: boolean;
  insecure?: boolean;
}

export interface Connection extends Target {
  client: BorgClient;
  profile: string;
  token: string | undefined;
}

/**
 * The address and token a command uses, each from the first place that has one:
 * address: `--addr`, `BORG_ADDR`, the profile, http://127.0.0.1:8080;
 * token: `BORG_TOKEN`, the profile.
 * The profile is `--profile`, else `BORG_PROFILE`, else the one `borg login` used last.
 */
export async function connect(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Promise<Connection> {
  const file = await readConfigFile(configPath(env));
  const profile = options.profile ?? env.BORG_PROFILE ?? file.current_profile;
  if (!PROFILE_NAME_PATTERN.test(profile)) {
    throw usageError(`"${profile}" is not a profile name`, 'use letters, digits, ".", "_" and "-"');
  }
  const stored = file.profiles[profile];
  if ((options.profile ?? env.BORG_PROFILE) && !stored && !env.BORG_ADDR && !options.addr) {
    throw usageError(
      `there is no profile "${profile}" in ${configPath(env)}`,
      `run \`borg login URL --profile ${profile}\``,
    );
  }
  const addr = normaliseAddr(options.addr ?? env.BORG_ADDR ?? stored?.addr ?? DEFAULT_ADDR);
  const [token, tokenSource] = env.BORG_TOKEN
    ? [env.BORG_TOKEN, 'BORG_TOKEN']
    : stored?.token
      ? [stored.token, `profile "${profile}"`]
      : [undefined, null];
  if (token) refuseCleartext(addr, options.insecure || stored?.insecure || isTrue(env.BORG_INSECURE));
  return { client: new BorgClient({ baseUrl: addr, token, fetch: httpFetch }), addr, token, tokenSource, profile };
}

/** Reads the program's options from inside any subcommand's action. */
export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals() as GlobalOptions;
}

/** `host:8080` → `http://host:8080`; a trailing slash goes. Anything else that is not http(s) is a usage error. */
export function normaliseAddr(raw: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw usageError(`"${raw}" is not a URL`, 'give the mothership as http://HOST:PORT or https://HOST');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw usageError(`"${raw}" is not an http(s) URL`, 'give the mothership as http://HOST:PORT or https://HOST');
  }
  return url.origin + url.pathname.replace(/\/+$/, '');
}

/**
 * A token is a licence to run commands on every runner; over plain http on a network anyone on
 * the path can take it (A14 of the reliability plan). Loopback is exempt, as in the solder.
 */
export function refuseCleartext(addr: string, insecure: boolean | undefined): void {
  const url = new URL(addr);
  if (sendsTokensInClear(url) && !insecure) {
    throw usageError(
      `refusing to send a token in clear text to ${url.origin}`,
      'use https://, or pass --insecure (BORG_INSECURE=1) on a network you trust',
    );
  }
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && /^(1|true|yes)$/i.test(value);
}
