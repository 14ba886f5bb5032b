import { Command } from 'commander';

export function mothershipCommand(): Command {
  return new Command('mothership')
    .description('Run the Borg server: API, WebSocket, queue, file storage')
    .option('--host <address>', 'address to listen on (BORG_HOST, default 0.0.0.0)')
    .option('--port <port>', 'port to listen on (BORG_PORT, default 8080)')
    .option('--database-url <url>', 'PostgreSQL server (DATABASE_URL); default: embedded PostgreSQL')
    .option('--data-dir <dir>', 'embedded database and files (BORG_DATA_DIR, default ./borg-data)')
    .option('--storage-dir <dir>', 'uploaded files and artifacts (BORG_STORAGE_DIR, default <data-dir>/storage)')
    .option('--storage-url <url>', 'files and artifacts in S3: s3://bucket/prefix?endpoint=… (BORG_STORAGE_URL)')
    .option('--heartbeat-interval <seconds>', 'runner heartbeat interval (BORG_HEARTBEAT_INTERVAL_SECONDS, default 30)')
    .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent (BORG_LOG_LEVEL, default info)')
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate chain (BORG_TLS_CERT; reloaded on SIGHUP)')
    .option('--tls-key <file>', 'the private key of --tls-cert, PEM (BORG_TLS_KEY)')
    .addHelpText(
      'after',
      `
Examples:
  borg mothership                                   embedded PostgreSQL in ./borg-data, port 8080
  DATABASE_URL=postgres://borg@db/borg borg mothership --port 9000
  BORG_ADMIN_TOKEN=... BORG_REGISTRATION_TOKEN=... borg mothership   fixed tokens (32+ characters) for automation
  borg mothership --tls-cert /etc/borg/tls.crt --tls-key /etc/borg/tls.key   HTTPS; kill -HUP reloads both`,
    )
    .action(async (flags: Record<string, string | undefined>) => {
      // Loaded here, not at the top, so client commands never load the server's modules.
      const { loadConfig, runMothership } = await import('@borg/mothership');
      const config = loadConfig({
        host: flags.host,
        port: flags.port,
        databaseUrl: flags.databaseUrl,
        dataDir: flags.dataDir,
        storageDir: flags.storageDir,
        storageUrl: flags.storageUrl,
        heartbeatIntervalSeconds: flags.heartbeatInterval,
        logLevel: flags.logLevel,
        tlsCert: flags.tlsCert,
        tlsKey: flags.tlsKey,
      });
      await runMothership(config);
    })
    .addCommand(migrateStorageCommand());
}

/** Copies a storage directory into a bucket, checked file by file (docs/operations.md, "Moving files to S3"). */
function migrateStorageCommand(): Command {
  return new Command('migrate-storage')
    .description('Copy every stored file from the storage directory into an S3 bucket, checking each sha256')
    .requiredOption('--to <url>', 's3://bucket/prefix?endpoint=…&region=…&force_path_style=true (credentials: AWS_*)')
    .addHelpText(
      'after',
      `
The database and the directory are the mothership's own (stop the replicas for the last run):
DATABASE_URL / --database-url, BORG_DATA_DIR / --data-dir, BORG_STORAGE_DIR / --storage-dir,
given before or after migrate-storage. Files already in the bucket at their size are skipped,
so it can run again; it exits 1 when a file could not be copied or did not match its sha256.

Example:
  borg mothership migrate-storage --data-dir /var/lib/borg --to 's3://borg/prod?region=eu-west-1'`,
    )
    .action(async (own: { to: string }, command: Command) => {
      // --database-url, --data-dir and --storage-dir belong to `borg mothership`, wherever they are written.
      const flags = command.optsWithGlobals<Record<string, string | undefined>>();
      const { loadConfig, migrateStorage } = await import('@borg/mothership');
      const config = loadConfig({
        databaseUrl: flags.databaseUrl,
        dataDir: flags.dataDir,
        storageDir: flags.storageDir,
        storageUrl: own.to,
      });
      const report = await migrateStorage(config, own.to, (line) => process.stderr.write(`${line}\n`));
      for (const failure of report.failed) process.stderr.write(`file ${failure.id}: ${failure.reason}\n`);
      process.stdout.write(
        `${report.copied} copied and checked, ${report.present} already in the bucket, ${report.failed.length} failed\n`,
      );
      if (report.failed.length > 0) process.exitCode = 1;
    });
}
