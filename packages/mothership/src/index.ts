import type { migrateStorage as MigrateStorage } from './files/migrate-storage.ts';

export { ENV_VARS, loadConfig, MothershipConfig, type MothershipConfigInput } from './config.ts';
export { runMothership, startupBanner } from './main.ts';
export { type CreatedSecrets, type Mothership, startMothership, type StartOptions } from './mothership.ts';

/** `borg mothership migrate-storage`; loaded on call, so the AWS SDK stays out of a plain start. */
export const migrateStorage: typeof MigrateStorage = async (...args) =>
  (await import('./files/migrate-storage.ts')).migrateStorage(...args);
