import { BorgApiError, type BorgClient, type Pipeline } from '@borg/protocol';
import { Command } from 'commander';

import { CliError, ExitCode } from '../cli-error.ts';
import { action, clientCommand, examples } from '../command-context.ts';
import { fullId } from '../id-prefix.ts';
import { printPipeline } from '../pipeline-views.ts';

export function pipelinesCommand(): Command {
  return new Command('pipelines').description('Pipelines submitted with `borg run`').addCommand(showCommand());
}

function showCommand(): Command {
  return clientCommand('show', 'Show a pipeline: its jobs with their status, what each waits for, why one was skipped')
    .argument('<id>', 'the pipeline id `borg run` printed, or the id (or first 6+ characters) of one of its jobs')
    .addHelpText(
      'after',
      examples(['borg pipelines show 5e1a0c2e-…', 'borg pipelines show 0b6f1c             by one of its jobs']),
    )
    .action(
      action(async ({ out, connect }, typed: string) => {
        const { client } = await connect();
        const pipeline = await pipelineOf(client, typed);
        if (out.json) out.printJson(pipeline);
        else printPipeline(out, pipeline);
      }),
    );
}

/**
 * The pipeline a person meant: a whole pipeline id as it is, else the pipeline of the job whose
 * id it is (or starts). Pipelines have no prefixes of their own: a job's is enough to find one.
 */
async function pipelineOf(client: BorgClient, typed: string): Promise<Pipeline> {
  const whole = typed.toLowerCase();
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(whole)) {
    try {
      return await client.getPipeline(whole);
    } catch (error) {
      if (!(error instanceof BorgApiError) || error.status !== 404) throw error;
    }
  }
  const { id } = await fullId(client, typed, ['job']);
  const job = await client.getJob(id);
  if (!job.pipeline_id) {
    throw new CliError(
      `job ${job.id} (${job.name}) is not part of a pipeline`,
      ExitCode.NOT_FOUND,
      'see `borg jobs show`',
    );
  }
  return client.getPipeline(job.pipeline_id);
}
