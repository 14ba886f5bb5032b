import { BorgApiError, BorgClient } from '@borg/protocol';
import { httpFetch } from '@borg/protocol/http-fetch';
import type { Command } from 'commander';

import { CliError, ExitCode, toCliError, usageError } from '../cli-error.ts';
import { DEFAULT_ADDR, normaliseAddr, refuseCleartext } from '../client-from-config.ts';
import { action, clientCommand, examples } from '../command-context.ts';
import { configPath, PROFILE_NAME_PATTERN, readConfigFile, writeConfigFile } from '../config-file.ts';
import { readSecret } from '../secret-prompt.ts';

interface LoginFlags {
  token?: string;
}

/** `borg login URL`: check a token against a mothership and keep both in a profile. */
export function loginCommand(): Command {
  return clientCommand('login', 'Store a mothership address and token in a profile of the config file')
    .argument('[url]', `the mothership (default ${DEFAULT_ADDR})`)
    .option('--token <token>', 'a user token (borg_usr_…); without it, asked for, or read from stdin')
    .addHelpText(
      'after',
      examples([
        'borg login https://borg.example.com                  asks for the token',
        'borg login http://127.0.0.1:8080 --token borg_usr_…',
        'borg login https://gpu.example.com --profile gpu     a second mothership; use it with --profile gpu',
        'pass show borg | borg login https://borg.example.com   token on stdin',
        '',
        `The file is ${configPath()} (BORG_CONFIG to move it), mode 600.`,
        'BORG_ADDR and BORG_TOKEN override what it holds; BORG_PROFILE picks a profile.',
      ]),
    )
    .action(
      action(async ({ out, options }, url: string | undefined, flags: LoginFlags) => {
        const addr = normaliseAddr(url ?? DEFAULT_ADDR);
        const profile = options.profile ?? process.env.BORG_PROFILE ?? 'default';
        if (!PROFILE_NAME_PATTERN.test(profile)) {
          throw usageError(`"${profile}" is not a profile name`, 'use letters, digits, ".", "_" and "-"');
        }
        const token = (flags.token ?? (await readSecret(`token for ${addr}: `))).trim();
        if (!token) throw usageError('no token given', 'pass --token, or paste it when asked');
        refuseCleartext(addr, options.insecure);

        // A user-only route: it proves the token is valid and that it is a user token.
        try {
          await new BorgClient({ baseUrl: addr, token, fetch: httpFetch }).stats();
        } catch (error) {
          if (error instanceof BorgApiError && error.code === 'UNAUTHORIZED') {
            throw new CliError(
              `the mothership at ${addr} refused this token (${error.message})`,
              ExitCode.AUTH,
              'copy the admin token from its first-start banner, or create one with `borg tokens create`',
            );
          }
          if (error instanceof BorgApiError && error.code === 'FORBIDDEN') {
            throw new CliError(
              `that token cannot use the API (${error.message})`,
              ExitCode.AUTH,
              'log in with a user token (borg_usr_…)',
            );
          }
          // Name the address typed here, not the one a profile or BORG_ADDR holds.
          throw toCliError(error, { addr, tokenSource: null });
        }

        const path = configPath();
        const config = await readConfigFile(path);
        config.profiles[profile] = { addr, token, ...(options.insecure ? { insecure: true } : {}) };
        config.current_profile = profile;
        await writeConfigFile(path, config);
        if (out.json) out.printJson({ profile, addr, config: path });
        else out.print(`logged in to ${addr} (profile "${profile}", saved in ${path})`);
      }),
    );
}
