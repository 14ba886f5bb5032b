export { Agent, type AgentOptions } from './agent.ts';
export { loadSolderConfig, SOLDER_ENV_VARS, SolderConfig, workDirOf } from './config.ts';
export { runSolder } from './main.ts';
export { SolderFatalError } from './solder-fatal-error.ts';
