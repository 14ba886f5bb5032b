export { ENV_VARS, loadConfig, MothershipConfig, type MothershipConfigInput } from './config.ts';
export { runMothership, startupBanner } from './main.ts';
export { type CreatedSecrets, type Mothership, startMothership, type StartOptions } from './mothership.ts';
