import { join } from 'node:path';

import { type Artifact, type BorgClient, isSafeRelativePath, type Task } from '@borg/protocol';
import { Command } from 'commander';
import picomatch from 'picomatch';

import { CliError, ExitCode } from '../cli-error.ts';
import { action, clientCommand, examples } from '../command-context.ts';
import { downloadFile } from '../file-transfer.ts';
import { latestAttempts } from '../job-outcome.ts';
import { bytes } from '../output.ts';
import { resolveJobOrTask } from '../resolve-target.ts';

interface TaskArtifact extends Artifact {
  element: number;
  attempt: number;
}

export function artifactsCommand(): Command {
  return new Command('artifacts')
    .description('List and download the files tasks kept (--artifact globs)')
    .addCommand(listCommand())
    .addCommand(downloadCommand());
}

function listCommand(): Command {
  return clientCommand('list', "A job's artifacts (the newest attempt of each element) or one task's")
    .alias('ls')
    .argument('<job-or-task-id>')
    .addHelpText('after', examples(['borg artifacts list 0b6f…', 'borg artifacts list 0b6f… -o json']))
    .action(
      action(async ({ out, connect }, id: string) => {
        const { client } = await connect();
        const artifacts = await artifactsOf(client, id);
        if (out.json) return out.printJson(artifacts);
        out.table(
          artifacts,
          [
            { header: 'ELEMENT', value: (a) => String(a.element) },
            { header: 'PATH', value: (a) => a.path },
            { header: 'SIZE', value: (a) => bytes(a.size) },
            { header: 'SHA256', value: (a) => a.sha256 },
            { header: 'FILE', value: (a) => a.file_id },
          ],
          'no artifacts',
        );
      }),
    );
}

function downloadCommand(): Command {
  return clientCommand('download', 'Download artifacts into a directory, each checked against its sha256')
    .argument('<job-or-task-id>')
    .option('--dir <dir>', 'where to put them (default: the current directory)', '.')
    .option('--path <glob>', 'only artifacts whose path matches this glob')
    .option('--force', 'overwrite files that exist')
    .addHelpText(
      'after',
      examples([
        'borg artifacts download 0b6f…                     ./out/plot.png for a one-element job',
        'borg artifacts download 0b6f… --dir results       results/<element>/out/plot.png for an array job',
        "borg artifacts download 0b6f… --path '**/*.png'",
      ]),
    )
    .action(
      action(async ({ out, connect }, id: string, flags: { dir: string; path?: string; force?: boolean }) => {
        const { client } = await connect();
        const artifacts = await artifactsOf(client, id);
        const matches = flags.path ? picomatch(flags.path, { dot: true }) : () => true;
        const chosen = artifacts.filter((a) => matches(a.path));
        if (chosen.length === 0) {
          throw new CliError(
            `no artifacts${flags.path ? ` match ${flags.path}` : ''} for ${id}`,
            ExitCode.NOT_FOUND,
            'see `borg artifacts list ID`',
          );
        }
        // One element: its paths as they were. Several: one directory per element, so equal paths cannot collide.
        const perElement = new Set(chosen.map((a) => a.element)).size > 1;
        const written = [];
        for (const artifact of chosen) {
          // Paths were checked when stored; a path that escapes the directory is still refused here.
          if (!isSafeRelativePath(artifact.path)) {
            throw new CliError(
              `artifact ${artifact.id} has an unsafe path ${JSON.stringify(artifact.path)}`,
              ExitCode.TRANSFER,
            );
          }
          const dest = perElement
            ? join(flags.dir, String(artifact.element), artifact.path)
            : join(flags.dir, artifact.path);
          const done = await downloadFile(client, artifact.file_id, dest, { force: flags.force, label: artifact.path });
          written.push({ ...artifact, local_path: done.path });
          if (!out.json) out.print(`${done.path}  ${bytes(done.size)}  sha256 ${done.sha256} (verified)`);
        }
        if (out.json) out.printJson(written);
      }),
    );
}

async function artifactsOf(client: BorgClient, id: string): Promise<TaskArtifact[]> {
  const target = await resolveJobOrTask(client, id);
  const tasks: Task[] = target.kind === 'task' ? [target.task] : latestAttempts(target.job);
  const all: TaskArtifact[] = [];
  for (const task of tasks) {
    const { items } = await client.listArtifacts(task.id);
    all.push(...items.map((a) => ({ ...a, element: task.index, attempt: task.attempt })));
  }
  return all;
}
