import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { Command } from 'commander';

import { addSolderOptions, solderFlags } from './solder.ts';

/** `borg up`: a mothership and one local solder, for trying Borg on one machine. */
export function upCommand(): Command {
  return addSolderOptions(
    new Command('up')
      .description('Run a mothership (embedded database) and one local solder together')
      .option('--port <port>', 'port to listen on (BORG_PORT, default 8080)')
      .option('--host <address>', 'address to listen on (BORG_HOST, default 127.0.0.1 for borg up)')
      .option('--data-dir <dir>', 'database, files and the local solder state (BORG_DATA_DIR, default ./borg-data)'),
    '<data-dir>/solder, so ./borg-data/solder',
  )
    .addHelpText('after', '\nExample:\n  npm start          (runs borg up)\n')
    .action(async (flags: Record<string, string | boolean | undefined>) => {
      // Loaded here, not at the top, so client commands never load the servers' modules.
      const { loadConfig, startMothership, startupBanner } = await import('@borg/mothership');
      const { Agent, loadSolderConfig } = await import('@borg/solder');
      const config = loadConfig({
        port: flags.port,
        host: flags.host ?? process.env.BORG_HOST ?? '127.0.0.1',
        dataDir: flags.dataDir,
        // A terminal for trying Borg out, not a server's log: requests are not worth a line each.
        logLevel: process.env.BORG_LOG_LEVEL ?? 'warn',
      });
      const mothership = await startMothership(config);
      const address = await mothership.listen();
      process.stdout.write(startupBanner(mothership, address, config) + '\n');

      const local = address.replace('://0.0.0.0:', '://127.0.0.1:');
      // Run as root, the solder runs tasks as another user, who may not enter the data directory
      // (700): their workspaces go in a fresh directory of their own under the system's temp dir.
      const workDir =
        (flags.workDir as string | undefined) ??
        (process.getuid?.() === 0 ? await mkdtemp(join(tmpdir(), 'borg-up-work-')) : undefined);
      const solderConfig = await loadSolderConfig(
        {
          ...solderFlags(flags as Record<string, string | undefined>),
          workDir,
          stateDir: (flags.stateDir as string | undefined) ?? join(resolve(config.dataDir), 'solder'),
          mothership: local,
          // Minted for this start only: the solder keeps its own runner token afterwards.
          registrationToken: await mothership.mintRegistrationToken('borg up (local solder)', 600),
        },
        {},
      );
      const agent = new Agent(solderConfig);
      await agent.start();
      process.stdout.write(`local solder ${agent.id} is taking tasks (state in ${solderConfig.stateDir})\n`);

      let signals = 0;
      const stop = async (cancelRunning: boolean) => {
        await agent.stop({ cancelRunning });
        await mothership.close();
        process.exit(0);
      };
      const onSignal = () => void stop(++signals > 1);
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    });
}
