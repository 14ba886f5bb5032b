import type { Command } from 'commander';

import { action, clientCommand, examples } from '../command-context.ts';

/** `borg whoami`: which mothership this profile talks to, and who its token is there. */
export function whoamiCommand(): Command {
  return clientCommand('whoami', "Show the mothership's address and the token's name, kind and role")
    .addHelpText('after', examples(['borg whoami', 'borg whoami --profile gpu', 'borg whoami -o json | jq -r .role']))
    .action(
      action(async ({ out, connect }) => {
        const { client, addr, profile, tokenSource } = await connect();
        const identity = await client.whoami();
        if (out.json) return out.printJson({ addr, profile, ...identity });
        out.fields([
          ['address', addr],
          ['profile', profile],
          ['token from', tokenSource ?? '-'],
          ['name', identity.name],
          ['kind', identity.kind],
          ['role', identity.role ?? '-'],
          ['token id', identity.token_id],
        ]);
      }),
    );
}
