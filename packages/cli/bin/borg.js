#!/usr/bin/env node
// The `borg` command. It runs the compiled build (dist/node, made by `npm run build`); a checkout
// that was never built, or BORG_FROM_SOURCE=1, runs the TypeScript sources through tsx instead.
import { existsSync } from 'node:fs';
import module from 'node:module';
import v8 from 'node:v8';

// Node 22.1+ keeps compiled code between runs.
module.enableCompileCache?.();
// Output piped into a reader that stops early (`borg … | head`) is not an error: stop quietly, as
// other Unix commands do.
process.stdout.on('error', (error) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});
// Stack traces name the .ts lines in the servers, and wherever BORG_DEBUG asks for traces.
// Reading the maps costs a client command about a sixth of its start, for traces it never prints.
const SERVERS = new Set(['mothership', 'solder', 'up']);
if (SERVERS.has(process.argv[2]) || process.env.BORG_DEBUG) process.setSourceMapsEnabled(true);
// A server keeps V8's young generation at its initial 2 × 1 MB instead of growing it to 32-64 MB
// during start-up and keeping it empty while idle; an explicit size in node's flags wins. The
// same rule as packages/cli/src/young-generation.ts (the solder bundle's), which says why.
if (
  SERVERS.has(process.argv[2]) &&
  !/--(max|min)-semi-space-size|--semi-space-growth-factor/.test(
    `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`,
  )
) {
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}

// The build makes the protocol's zod schemas on first use (scripts/lazy-zod.ts); a process that
// serves the API makes them at once, as zod does, since its OpenAPI document needs the schemas
// themselves, not stand-ins.
if (process.argv[2] === 'mothership' || process.argv[2] === 'up') globalThis[Symbol.for('borg.eager-schemas')] = true;

const compiled = new URL('../../../dist/node/cli/', import.meta.url);
const fromBuild = existsSync(new URL('borg.js', compiled)) && !process.env.BORG_FROM_SOURCE;
const args = process.argv.slice(2);
const wantsVersion = args.length === 1 && (args[0] === '--version' || args[0] === '-V');
if (!fromBuild) {
  const { register } = await import('tsx/esm/api');
  register();
}
if (wantsVersion) {
  // Scripts ask this often; the answer needs none of the CLI (and the mothership's only when one is set).
  const { versionText } = await import(fromBuild ? new URL('version.js', compiled).href : '../src/version-line.ts');
  process.stdout.write(await versionText(process.env));
} else {
  const { main } = await import(fromBuild ? new URL('borg.js', compiled).href : '../src/main.ts');
  await main(process.argv);
}
