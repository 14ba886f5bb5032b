import { Agent } from './agent.ts';
import { assertTransportIsSafe, type SolderConfig } from './config.ts';
import { SolderFatalError } from './solder-fatal-error.ts';

/**
 * Runs a solder until it is told to stop. First SIGTERM/SIGINT: drain (claim nothing more,
 * let running tasks finish, exit 0). A second one: stop running tasks (SIGTERM, then SIGKILL
 * after the grace period), report them, exit.
 */
export async function runSolder(config: SolderConfig): Promise<number> {
  assertTransportIsSafe(config);
  const agent = new Agent(config);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      process.stderr.write(`solder: ${signal}: finishing running tasks (send it again to cancel them)\n`);
      void agent.stop();
    } else {
      process.stderr.write(`solder: ${signal}: cancelling running tasks\n`);
      void agent.stop({ cancelRunning: true });
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    await agent.start();
    process.stderr.write(`solder: runner ${agent.id} ready, taking tasks from ${config.mothership}\n`);
    await agent.done;
    return 0;
  } catch (error) {
    if (error instanceof SolderFatalError) {
      process.stderr.write(`solder: ${error.message}\n`);
      return 78; // EX_CONFIG: nothing a restart would fix
    }
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
