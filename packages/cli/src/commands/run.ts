import type { BorgClient, Job, Pipeline } from '@borg/protocol';
import type { Command } from 'commander';

import { ExitCode, usageError } from '../cli-error.ts';
import { action, clientCommand, examples } from '../command-context.ts';
import { integer } from '../flag-values.ts';
import { onFollowInterrupt } from '../follow-interrupt.ts';
import { type Output, statusPaint } from '../output.ts';
import { readPipelineFile } from '../pipeline-file.ts';
import { PipelineFollower } from '../pipeline-follow.ts';
import { pipelineExitCode } from '../pipeline-outcome.ts';
import { printPipeline, shortId } from '../pipeline-views.ts';

interface RunFlags {
  follow?: boolean;
  cancelOnInterrupt?: boolean;
  tail?: string;
}

/** Lines of a failing job's log that `--follow` prints, unless --tail says otherwise. */
const DEFAULT_TAIL = 20;

export function runCommand(): Command {
  return clientCommand('run', 'Submit a pipeline file: jobs that wait for each other, all or none')
    .argument('<file>', 'a YAML or JSON file of the POST /pipelines shape ({name, jobs: [...]}); - for stdin')
    .option(
      '-f, --follow',
      "print each job's status as it changes until all have ended, with the last lines of a failing job's log; exit 0 when all succeeded, 1 otherwise",
    )
    .option('--cancel-on-interrupt', "with --follow: Ctrl-C cancels the pipeline's jobs (and what waits on them)")
    .option('--tail <n>', `with --follow: lines of a failing job's log to print (default ${DEFAULT_TAIL})`)
    .addHelpText(
      'after',
      examples([
        'borg run pipeline.yaml                   prints the pipeline id and its jobs',
        'borg run pipeline.yaml --follow          exits 0 when every job succeeded, 1 when any failed',
        'borg run pipeline.yaml -f --cancel-on-interrupt --tail 50',
        'generate-pipeline | borg run - --follow',
        '',
        'A file (docs/cli.md, "borg run"):',
        '  name: nightly',
        '  jobs:',
        '    - name: preprocess',
        '      command: ./prep.sh',
        '      artifacts: ["out/**"]',
        '    - name: train',
        '      command: python train.py --data from-prep/out',
        '      inputs_from: [{name: preprocess, artifacts: "out/**", path: from-prep}]',
        '    - name: report-failure',
        '      command: ./notify.sh',
        '      depends_on: [{name: train, condition: failed}]',
      ]),
    )
    .action(
      action(async ({ out, connect }, file: string, flags: RunFlags) => {
        if (flags.cancelOnInterrupt && !flags.follow) throw usageError('--cancel-on-interrupt is for --follow');
        if (flags.tail !== undefined && !flags.follow) throw usageError('--tail is for --follow');
        const tail = integer(flags.tail, '--tail', 0, 10_000) ?? DEFAULT_TAIL;
        // The whole file is checked before anything is sent.
        const { request } = await readPipelineFile(file);
        const { client, ...conn } = await connect();
        const pipeline = await client.createPipeline(request);

        if (!flags.follow) {
          if (out.json) out.printJson(pipeline);
          else printPipeline(out, pipeline);
          return ExitCode.OK;
        }
        const follower = new PipelineFollower({ client, ...conn }, pipeline, out, tail);
        // Ctrl-C is ours before anything says the pipeline is followed (see submit.ts).
        onFollowInterrupt(out, Boolean(flags.cancelOnInterrupt), {
          what: `pipeline ${pipeline.id}`,
          howToStop: () =>
            `\`borg jobs cancel --cascade ${frontier(follower.current()).map(shortId).join(' ')}\` stops it`,
          cancel: () => cancelPipeline(client, follower.current()),
        });
        if (out.json) out.printJsonLine({ type: 'submitted', pipeline });
        else printPipeline(out, pipeline);
        const jobs = await follower.run();
        if (out.json) out.printJsonLine({ type: 'finished', pipeline: { ...pipeline, jobs } });
        else out.note(summary(out, pipeline, jobs));
        return pipelineExitCode(jobs);
      }),
    );
}

/**
 * The jobs of the pipeline that have not ended and wait for none that has not: cancelling them
 * with cascade cancels every job of the pipeline still to end (the rest are downstream of them).
 */
function frontier(jobs: readonly Job[]): string[] {
  const open = new Set(jobs.filter((j) => j.completed_at === null).map((j) => j.id));
  return jobs.filter((j) => open.has(j.id) && !j.depends_on.some((d) => open.has(d.job_id))).map((j) => j.id);
}

async function cancelPipeline(client: BorgClient, jobs: readonly Job[]): Promise<string> {
  const ids = frontier(jobs);
  const results = await Promise.allSettled(ids.map((id) => client.cancelJob(id, { cascade: true })));
  const refused = results.flatMap((r, i) =>
    r.status === 'rejected' ? [`${ids[i]} (${(r.reason as Error).message})`] : [],
  );
  if (refused.length > 0) return `borg: could not cancel job ${refused.join(', job ')}`;
  const [noun, them] = ids.length === 1 ? ['job', 'it'] : ['jobs', 'them'];
  return `borg: cancelled ${noun} ${ids.map(shortId).join(', ')} and every job waiting on ${them}`;
}

/** "pipeline 5e1a… (nightly): 2 succeeded, 1 failed, 1 skipped". */
function summary(out: Output, pipeline: Pipeline, jobs: readonly Job[]): string {
  const counts = new Map<string, number>();
  for (const job of jobs) counts.set(job.status, (counts.get(job.status) ?? 0) + 1);
  const parts = [...counts].map(([status, n]) => `${n} ${out.paint(statusPaint(status) ?? 'bold', status, 'err')}`);
  return `pipeline ${pipeline.id}${pipeline.name ? ` (${pipeline.name})` : ''}: ${parts.join(', ')}`;
}
