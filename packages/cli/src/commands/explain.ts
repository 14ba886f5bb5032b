import type { BorgClient, TaskPlacement } from '@borg/protocol';
import type { Command } from 'commander';

import { action, clientCommand, examples } from '../command-context.ts';
import { printPlacement } from '../placement-views.ts';
import { resolveJobOrTask } from '../resolve-target.ts';

/** For a job, the pending tasks explained (lowest element first); the rest are counted. */
const MAX_EXPLAINED_TASKS = 5;

export function explainCommand(): Command {
  return clientCommand('explain', 'Why a task (or each pending task of a job) is waiting, and what each runner lacks')
    .argument('<job-or-task-id>')
    .addHelpText(
      'after',
      examples([
        'borg explain 0b6f…                     a job: its pending tasks, at most 5',
        'borg explain 3f2a…                     one task',
        'borg explain 0b6f… -o json | jq ".[0].runners"',
      ]),
    )
    .action(
      action(async ({ out, connect }, id: string) => {
        const { client } = await connect();
        const target = await resolveJobOrTask(client, id);
        if (target.kind === 'task') {
          const placement = await client.getTaskPlacement(target.task.id);
          if (out.json) out.printJson(placement);
          else printPlacement(out, placement);
          return;
        }
        const { job } = target;
        const pending = job.tasks.filter((t) => t.status === 'pending').sort((a, b) => a.index - b.index);
        const placements = await explainEach(
          client,
          pending.slice(0, MAX_EXPLAINED_TASKS).map((t) => t.id),
        );
        if (out.json) {
          out.printJson(placements);
          return;
        }
        if (pending.length === 0) {
          out.print(`job ${job.id} is ${job.status}: none of its tasks is waiting`);
          return;
        }
        placements.forEach((placement, i) => {
          if (i > 0) out.print();
          printPlacement(out, placement);
        });
        if (pending.length > MAX_EXPLAINED_TASKS) {
          out.print(`\n… and ${pending.length - MAX_EXPLAINED_TASKS} more pending tasks: borg explain TASK_ID`);
        }
      }),
    );
}

function explainEach(client: BorgClient, taskIds: string[]): Promise<TaskPlacement[]> {
  return Promise.all(taskIds.map((taskId) => client.getTaskPlacement(taskId)));
}
