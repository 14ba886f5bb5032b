import { type Role, ROLES } from '@borg/protocol';
import { Command, Option } from 'commander';

import { action, clientCommand, examples } from '../command-context.ts';
import { durationSeconds } from '../flag-values.ts';
import { ago } from '../output.ts';

export function tokensCommand(): Command {
  return new Command('tokens')
    .description('Create, list and revoke API and registration tokens')
    .addCommand(createCommand())
    .addCommand(listCommand())
    .addCommand(revokeCommand());
}

function createCommand(): Command {
  return clientCommand('create', 'Create a token; it is printed once (only its hash is stored)')
    .argument('<name>', 'what it is for, e.g. "ci" or "gpu solders"')
    .addOption(
      new Option('--kind <kind>', 'user: the API and this CLI; registration: solders register with it')
        .choices(['user', 'registration'])
        .default('user'),
    )
    .addOption(
      new Option(
        '--role <role>',
        'what a user token may do: viewer (read), submitter (+ submit and change its own jobs), ' +
          'operator (+ every job and runner), admin (+ tokens and the audit log)',
      ).choices([...ROLES]),
    )
    .option('--expires <duration>', 'valid for this long, e.g. 30d, 12h (default: until revoked)')
    .addHelpText(
      'after',
      examples([
        'borg tokens create ci --expires 90d           a submitter (the default role)',
        'borg tokens create wallboard --role viewer',
        'borg tokens create "gpu solders" --kind registration',
        'TOKEN=$(borg tokens create ci)     the token alone on stdout',
      ]),
    )
    .action(
      action(
        async (
          { out, connect },
          name: string,
          flags: { kind: 'user' | 'registration'; role?: Role; expires?: string },
        ) => {
          const { client } = await connect();
          const created = await client.createToken({
            name,
            kind: flags.kind,
            role: flags.role,
            expires_in_seconds: durationSeconds(flags.expires, '--expires'),
          });
          if (out.json) return out.printJson(created);
          out.print(created.token);
          const what = created.role ? `${created.kind}, ${created.role}` : created.kind;
          out.note(`token ${created.id} (${what}) created; it is not shown again: keep it now`);
        },
      ),
    );
}

function listCommand(): Command {
  return clientCommand('list', 'List tokens (never the tokens themselves)')
    .alias('ls')
    .addHelpText(
      'after',
      examples(['borg tokens list', 'borg tokens list -o json | jq -r \'.[] | select(.kind == "user") | .id\'']),
    )
    .action(
      action(async ({ out, connect }) => {
        const { client } = await connect();
        const { items } = await client.listTokens();
        if (out.json) return out.printJson(items);
        const now = Date.now();
        out.table(items, [
          { header: 'ID', value: (t) => t.id },
          { header: 'NAME', value: (t) => t.name },
          { header: 'KIND', value: (t) => t.kind },
          { header: 'ROLE', value: (t) => t.role ?? '-' },
          { header: 'CREATED', value: (t) => ago(t.created_at, now) },
          { header: 'LAST USED', value: (t) => ago(t.last_used_at, now) },
          { header: 'EXPIRES', value: (t) => t.expires_at?.slice(0, 19).replace('T', ' ') ?? '-' },
          {
            header: 'STATE',
            value: (t) =>
              t.revoked_at ? 'revoked' : t.expires_at && Date.parse(t.expires_at) < now ? 'expired' : 'active',
            paint: (t) => (t.revoked_at ? 'red' : undefined),
          },
        ]);
      }),
    );
}

function revokeCommand(): Command {
  return clientCommand('revoke', 'Revoke tokens: refused at once, open WebSocket sessions closed')
    .argument('<token-id...>')
    .addHelpText('after', examples(['borg tokens revoke 5e1a…']))
    .action(
      action(async ({ out, connect }, ids: string[]) => {
        const { client } = await connect();
        const revoked = [];
        for (const id of ids) {
          const token = await client.revokeToken(id);
          revoked.push(token);
          if (!out.json) out.print(`token ${token.id} (${out.cell(token.name)}) revoked`);
        }
        if (out.json) out.printJson(revoked);
      }),
    );
}
