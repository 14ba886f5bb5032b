import type { MothershipConfig } from './config.ts';
import { type Mothership, startMothership } from './mothership.ts';

/** What `borg mothership` prints once it listens: where it is and, on first start, the secrets. */
export function startupBanner(mothership: Mothership, address: string, config: MothershipConfig): string {
  const local = address.replace('://0.0.0.0:', '://127.0.0.1:').replace('://[::]:', '://127.0.0.1:');
  const engine = config.databaseUrl ? 'PostgreSQL' : `embedded PostgreSQL in ${config.dataDir}`;
  const everywhere = local !== address ? ', and on every other address of this machine' : '';
  const lines = [`borg mothership listening on ${local} (${engine}${everywhere})`];
  const { adminToken, registrationToken } = mothership.createdSecrets;
  if (adminToken || registrationToken) {
    lines.push('', 'First start: these tokens are shown once and stored only as hashes. Keep them now.');
    if (adminToken)
      lines.push(`  admin token:        ${adminToken}`, `  dashboard:          ${local}/?token=${adminToken}`);
    if (registrationToken) lines.push(`  registration token: ${registrationToken}`);
    lines.push('');
  }
  return lines.join('\n');
}

/** Runs a mothership until SIGINT/SIGTERM, then shuts down in order. */
export async function runMothership(config: MothershipConfig): Promise<void> {
  const mothership = await startMothership(config);
  const address = await mothership.listen();
  process.stdout.write(startupBanner(mothership, address, config) + '\n');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      mothership.log.warn('second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    mothership.log.info({ signal }, 'shutting down');
    mothership.close().then(
      () => process.exit(0),
      (error: unknown) => {
        mothership.log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  // A renewed certificate is picked up without a restart, and without dropping a connection.
  if (config.tlsCert) process.on('SIGHUP', () => void mothership.reloadTls());
}
