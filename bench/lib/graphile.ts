import { Logger, run, runMigrations, type Runner, type TaskList } from 'graphile-worker';

/** graphile-worker 0.17.3, the reference queue, quiet. */
export const quietLogger = new Logger(() => () => undefined);

export interface GraphileOptions {
  connectionString: string;
  taskList: TaskList;
  concurrency: number;
  /**
   * Batched mode (graphile's performance guide): a local queue fetches many jobs per query and
   * completions are written in batches. Off, each worker fetches one job per query.
   */
  batched?: boolean;
}

/** Starts a graphile-worker pool (installing its schema on first use) in this process. */
export function startGraphile(options: GraphileOptions): Promise<Runner> {
  return run({
    connectionString: options.connectionString,
    concurrency: options.concurrency,
    maxPoolSize: Math.max(10, options.concurrency + 2),
    noHandleSignals: true,
    pollInterval: 2_000,
    logger: quietLogger,
    taskList: options.taskList,
    preset: options.batched
      ? { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } }
      : undefined,
  });
}

/** Installs graphile-worker's schema, so that jobs can be added before any worker runs. */
export function installGraphile(connectionString: string): Promise<void> {
  return runMigrations({ connectionString, logger: quietLogger });
}
