export { Agent, type AgentOptions, SolderFatalError } from './agent.ts';
export { loadSolderConfig, SOLDER_ENV_VARS, SolderConfig, workDirOf } from './config.ts';
export { runSolder } from './main.ts';
