import type { BorgClient, Runner } from '@borg/protocol';
import { Command } from 'commander';

import { action, clientCommand, examples } from '../command-context.ts';
import { fullId } from '../id-prefix.ts';
import { ago, labelsText, type Output, statusPaint } from '../output.ts';
import { listAllRunners } from '../runner-names.ts';
import { watch } from '../watch-loop.ts';

export function runnersCommand(): Command {
  return new Command('runners')
    .description('List and manage runners (solders)')
    .addCommand(listCommand())
    .addCommand(showCommand())
    .addCommand(
      controlCommand('drain', 'Drain runners: they finish their tasks and take no new ones', (c, id) =>
        c.drainRunner(id),
      ),
    )
    .addCommand(controlCommand('resume', 'Let drained runners take tasks again', (c, id) => c.resumeRunner(id)))
    .addCommand(
      controlCommand('approve', 'Approve runners waiting for approval (BORG_RUNNER_APPROVAL)', (c, id) =>
        c.approveRunner(id),
      ),
    )
    .addCommand(
      controlCommand(
        'delete',
        'Delete runners: their tokens stop working, their tasks are retried elsewhere, their machines may not register again',
        (c, id) => c.deleteRunner(id),
      ),
    );
}

function listCommand(): Command {
  return clientCommand('list', 'List runners')
    .alias('ls')
    .option('-w, --watch', 'keep the list on screen, updated live (Ctrl-C to stop)')
    .addHelpText('after', examples(['borg runners list', 'borg runners list --watch', 'borg runners list -o json']))
    .action(
      action(async ({ out, connect }, flags: { watch?: boolean }) => {
        const { client, ...conn } = await connect();
        if (!flags.watch) {
          const runners = await listAllRunners(client);
          if (out.json) out.printJson(runners);
          else printRunnerTable(out, runners);
          return;
        }
        await watch(out, { client, ...conn }, ['runners'], async (into) => {
          const runners = await listAllRunners(client);
          if (into.json) into.printJsonLine(runners);
          else printRunnerTable(into, runners);
          return undefined;
        });
      }),
    );
}

function showCommand(): Command {
  return clientCommand('show', 'Show a runner: labels, capacity and the resources it detected')
    .argument('<runner-id>')
    .addHelpText(
      'after',
      examples([
        'borg runners show 6f0c1d                  the first 6 characters or more of its id',
        'borg runners show 6f0c… -o json | jq .resources',
      ]),
    )
    .action(
      action(async ({ out, connect }, typed: string) => {
        const { client } = await connect();
        const { id } = await fullId(client, typed, ['runner']);
        const runner = await client.getRunner(id);
        if (out.json) return out.printJson(runner);
        out.fields([
          ['id', runner.id],
          ['name', runner.name],
          ['status', runnerState(runner)],
          ['host', `${runner.hostname} (${runner.os}/${runner.arch})`],
          ['version', runner.version ?? '-'],
          [
            'protocol',
            `${runner.protocol_version}${runner.protocol_supported ? '' : ' (not spoken by this mothership: upgrade the solder)'}`,
          ],
          ['tasks', `${runner.active_tasks} of ${runner.max_concurrent_tasks}`],
          ['labels', labelsText(runner.labels)],
          ['job types', runner.job_types ? runner.job_types.join(', ') : 'all (shell, binary, container)'],
          [
            'capacity',
            runner.capacity
              ? `${runner.capacity.cpu_used} of ${runner.capacity.cpu} CPUs, ${runner.capacity.memory_used_mb} of ${runner.capacity.memory_mb} MB held`
              : 'none reported (takes only tasks that ask for no resources)',
          ],
          ...runner.gpus.map((gpu): [string, string] => [
            `gpu ${gpu.index}`,
            [
              gpu.model || 'GPU',
              gpu.memory_mb === null ? '' : `${gpu.memory_mb} MB`,
              gpu.utilization_pct === null ? '' : `${gpu.utilization_pct}% busy`,
              gpu.task_id ? `held by task ${gpu.task_id}` : 'free',
            ]
              .filter(Boolean)
              .join(', '),
          ]),
          ['heartbeat', ago(runner.last_heartbeat)],
          ['registered', runner.created_at],
          ['device', runner.device_id],
        ]);
        const resources = Object.entries(runner.resources);
        if (resources.length === 0) return;
        out.print();
        out.print(out.paint('bold', 'resources:'));
        for (const [key, value] of resources) out.print(`  ${out.cell(key)}: ${out.cell(JSON.stringify(value))}`);
      }),
    );
}

function controlCommand(name: string, description: string, call: (client: BorgClient, id: string) => Promise<Runner>) {
  return clientCommand(name, description)
    .argument('<runner-id...>')
    .addHelpText('after', examples([`borg runners ${name} 6f0c…`]))
    .action(
      action(async ({ out, connect }, ids: string[]) => {
        const { client } = await connect();
        const done: Runner[] = [];
        for (const typed of ids) {
          const { id } = await fullId(client, typed, ['runner']);
          const runner = await call(client, id);
          done.push(runner);
          if (!out.json) {
            out.print(`runner ${runner.id} (${out.cell(runner.name)}): ${out.status(runnerState(runner))}`);
          }
        }
        if (out.json) out.printJson(done);
      }),
    );
}

function printRunnerTable(out: Output, runners: Runner[]): void {
  const now = Date.now();
  out.table(
    runners,
    [
      { header: 'ID', value: (r) => r.id },
      { header: 'NAME', value: (r) => r.name },
      {
        header: 'STATUS',
        value: runnerState,
        paint: (r) => statusPaint(runnerState(r)),
      },
      { header: 'TASKS', value: (r) => `${r.active_tasks}/${r.max_concurrent_tasks}` },
      { header: 'HEARTBEAT', value: (r) => ago(r.last_heartbeat, now) },
      { header: 'LABELS', value: (r) => labelsText(r.labels) },
    ],
    'no runners: start one with `borg solder --mothership URL --registration-token …`',
  );
}

/** What a runner is doing, in one word: waiting for approval comes before any other state. */
function runnerState(runner: Runner): string {
  if (!runner.approved) return 'awaiting approval';
  if (runner.status === 'offline' && runner.offline_reason === 'stopped') return 'offline (stopped)';
  return runner.draining ? 'draining' : runner.status;
}
