import { readFile } from 'node:fs/promises';

import { Command } from 'commander';

import { CliError, ExitCode, usageError } from '../cli-error.ts';
import { action, clientCommand, examples } from '../command-context.ts';
import { ago } from '../output.ts';
import { readSecret } from '../secret-prompt.ts';

export function secretsCommand(): Command {
  return new Command('secrets')
    .description('Set, list and delete secrets that jobs receive as environment variables (admin)')
    .addCommand(setCommand())
    .addCommand(listCommand())
    .addCommand(deleteCommand());
}

function setCommand(): Command {
  return clientCommand('set', 'Create or replace a secret; its value is stored encrypted and never shown again')
    .argument('<name>', 'what jobs call it, e.g. deploy-token')
    .option('--from-file <path>', 'read the value from a file, as it is (a key, a certificate)')
    .addHelpText(
      'after',
      examples([
        'borg secrets set deploy-token                      asks for the value without echoing it',
        'pass show deploy | borg secrets set deploy-token   the first line of stdin',
        'borg secrets set tls-key --from-file ./key.pem',
        'borg submit --secret DEPLOY_TOKEN=deploy-token -- ./deploy.sh',
      ]),
    )
    .action(
      action(async ({ out, connect }, name: string, flags: { fromFile?: string }) => {
        const value = flags.fromFile
          ? await readFile(flags.fromFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
              throw new CliError(`cannot read ${flags.fromFile}: ${error.code ?? error.message}`, ExitCode.USAGE);
            })
          : await readSecret(`value of ${name}: `);
        if (value === '')
          throw usageError('the value is empty', 'type it at the prompt, pipe it in, or use --from-file');
        const { client } = await connect();
        const info = await client.putSecret(name, { value });
        if (out.json) return out.printJson(info);
        out.print(`secret ${out.cell(info.name)} ${info.created_at === info.updated_at ? 'created' : 'replaced'}`);
      }),
    );
}

function listCommand(): Command {
  return clientCommand('list', 'List secrets: names and dates, never values')
    .alias('ls')
    .action(
      action(async ({ out, connect }) => {
        const { client } = await connect();
        const { items } = await client.listSecrets();
        if (out.json) return out.printJson(items);
        const now = Date.now();
        out.table(items, [
          { header: 'NAME', value: (s) => s.name },
          { header: 'CREATED', value: (s) => ago(s.created_at, now) },
          { header: 'UPDATED', value: (s) => ago(s.updated_at, now) },
        ]);
      }),
    );
}

function deleteCommand(): Command {
  return clientCommand('delete', 'Delete secrets; jobs that name them can no longer start tasks')
    .alias('rm')
    .argument('<name...>')
    .action(
      action(async ({ out, connect }, names: string[]) => {
        const { client } = await connect();
        const deleted = [];
        for (const name of names) {
          deleted.push(await client.deleteSecret(name));
          if (!out.json) out.print(`secret ${out.cell(name)} deleted`);
        }
        if (out.json) out.printJson(deleted);
      }),
    );
}
