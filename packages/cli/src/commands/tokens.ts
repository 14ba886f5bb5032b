import { type AllowedLabels, type Role, ROLES } from '@borg/protocol';
import { Command, Option } from 'commander';

import { usageError } from '../cli-error.ts';
import { action, clientCommand, examples } from '../command-context.ts';
import { collect, durationSeconds, integer } from '../flag-values.ts';
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
    .option('--max-uses <n>', 'registration tokens: register at most this many runners (default: no limit)')
    .option(
      '--allow-label <key=value>',
      'registration tokens: a label its runners may carry (repeat; a key twice allows both values, value * any); ' +
        'without it, any labels',
      collect,
    )
    .addHelpText(
      'after',
      examples([
        'borg tokens create ci --expires 90d           a submitter (the default role)',
        'borg tokens create wallboard --role viewer',
        'borg tokens create "gpu solders" --kind registration',
        'borg tokens create "cpu pool" --kind registration --max-uses 10 --allow-label pool=cpu --allow-label zone=*',
        'TOKEN=$(borg tokens create ci)     the token alone on stdout',
      ]),
    )
    .action(
      action(
        async (
          { out, connect },
          name: string,
          flags: {
            kind: 'user' | 'registration';
            role?: Role;
            expires?: string;
            maxUses?: string;
            allowLabel?: string[];
          },
        ) => {
          const { client } = await connect();
          const created = await client.createToken({
            name,
            kind: flags.kind,
            role: flags.role,
            expires_in_seconds: durationSeconds(flags.expires, '--expires'),
            max_uses: integer(flags.maxUses, '--max-uses', 1, 1_000_000),
            allowed_labels: allowedLabels(flags.allowLabel),
          });
          if (out.json) return out.printJson(created);
          out.print(created.token);
          const what = created.role ? `${created.kind}, ${created.role}` : created.kind;
          out.note(`token ${created.id} (${what}) created; it is not shown again: keep it now`);
        },
      ),
    );
}

/** Repeated `--allow-label k=v` into allowed labels: a key given twice allows each value. */
function allowedLabels(pairs: string[] | undefined): AllowedLabels | undefined {
  if (!pairs || pairs.length === 0) return undefined;
  const allowed: Record<string, string[]> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw usageError(`--allow-label "${pair}" is not KEY=VALUE`, 'e.g. --allow-label pool=cpu');
    (allowed[pair.slice(0, eq)] ??= []).push(pair.slice(eq + 1));
  }
  return Object.fromEntries(
    Object.entries(allowed).map(([key, values]) => [key, values.length === 1 ? values[0]! : values]),
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
          { header: 'USES', value: (t) => (t.kind !== 'registration' ? '-' : `${t.uses}/${t.max_uses ?? '∞'}`) },
          { header: 'ALLOWED LABELS', value: (t) => (t.allowed_labels ? allowedLabelsText(t.allowed_labels) : '-') },
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

function allowedLabelsText(allowed: AllowedLabels): string {
  return Object.entries(allowed)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : value.join('|')}`)
    .join(',');
}
