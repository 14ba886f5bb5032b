#!/usr/bin/env node
// The `borg` command. It runs the compiled build (dist/node, made by `npm run build`); a checkout
// that was never built, or BORG_FROM_SOURCE=1, runs the TypeScript sources through tsx instead.
import { existsSync } from 'node:fs';
import module from 'node:module';

// Node 22.1+ keeps compiled code between runs.
module.enableCompileCache?.();
// Stack traces name the .ts lines in the servers, and wherever BORG_DEBUG asks for traces.
// Reading the maps costs a client command about a sixth of its start, for traces it never prints.
const SERVERS = new Set(['mothership', 'solder', 'up']);
if (SERVERS.has(process.argv[2]) || process.env.BORG_DEBUG) process.setSourceMapsEnabled(true);

const compiled = new URL('../../../dist/node/cli/', import.meta.url);
const fromBuild = existsSync(new URL('borg.js', compiled)) && !process.env.BORG_FROM_SOURCE;
const args = process.argv.slice(2);
if (fromBuild && args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  // Scripts ask this often; the answer needs none of the CLI.
  const { BORG_VERSION } = await import(new URL('version.js', compiled).href);
  process.stdout.write(`${BORG_VERSION}\n`);
} else if (fromBuild) {
  const { main } = await import(new URL('borg.js', compiled).href);
  await main(process.argv);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../src/main.ts');
  await main(process.argv);
}
