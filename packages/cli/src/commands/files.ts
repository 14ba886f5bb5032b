import { stat } from 'node:fs/promises';
import { join } from 'node:path';

import type { FileInfo } from '@borg/protocol';
import { Command } from 'commander';

import { action, clientCommand, examples } from '../command-context.ts';
import { downloadFile, localNameFor, uploadLocalFile } from '../file-transfer.ts';
import { bytes } from '../output.ts';

export function filesCommand(): Command {
  return new Command('files')
    .description('Upload and download stored files (streamed, sha256 checked)')
    .addCommand(uploadCommand())
    .addCommand(downloadCommand());
}

function uploadCommand(): Command {
  return clientCommand('upload', 'Upload local files; prints their ids (use them as job inputs through the API)')
    .argument('<local-file...>')
    .addHelpText('after', examples(['borg files upload ./model.bin', 'borg files upload *.csv -o json']))
    .action(
      action(async ({ out, connect }, paths: string[]) => {
        const { client } = await connect();
        const uploaded: FileInfo[] = [];
        for (const path of paths) uploaded.push(await uploadLocalFile(client, path));
        if (out.json) return out.printJson(uploaded);
        out.table(uploaded, [
          { header: 'ID', value: (f) => f.id },
          { header: 'NAME', value: (f) => f.filename },
          { header: 'SIZE', value: (f) => bytes(f.size) },
          { header: 'SHA256', value: (f) => f.sha256 },
        ]);
      }),
    );
}

function downloadCommand(): Command {
  return clientCommand('download', 'Download a stored file; it is kept only if its sha256 matches')
    .argument('<file-id>')
    .argument('[dest]', "a path, a directory, or - for stdout (default: the file's name, here)")
    .option('--force', 'overwrite dest if it exists')
    .addHelpText(
      'after',
      examples([
        'borg files download 3c9d…',
        'borg files download 3c9d… ./inputs/',
        'borg files download 3c9d… - | tar -x',
      ]),
    )
    .action(
      action(async ({ out, connect }, id: string, dest: string | undefined, flags: { force?: boolean }) => {
        const { client } = await connect();
        const info = await client.getFile(id);
        const path = await destinationFor(dest, localNameFor(info));
        const done = await downloadFile(client, id, path, { force: flags.force, label: info.filename });
        if (path === '-') return;
        if (out.json) out.printJson({ ...info, path: done.path });
        else out.print(`${done.path}  ${bytes(done.size)}  sha256 ${done.sha256} (verified)`);
      }),
    );
}

/** An existing directory (or a path ending in /) receives the file under its own name. */
export async function destinationFor(dest: string | undefined, name: string): Promise<string> {
  if (dest === undefined) return name;
  if (dest === '-') return dest;
  if (dest.endsWith('/')) return join(dest, name);
  const isDir = await stat(dest).then(
    (s) => s.isDirectory(),
    () => false,
  );
  return isDir ? join(dest, name) : dest;
}
