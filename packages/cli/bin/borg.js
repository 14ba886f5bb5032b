#!/usr/bin/env node
// The `borg` command. It runs the compiled build (dist/node, made by `npm run build`); a checkout
// that was never built, or BORG_FROM_SOURCE=1, runs the TypeScript sources through tsx instead.
import { existsSync } from 'node:fs';
import module from 'node:module';

// Node 22.1+ keeps compiled code between runs; stack traces name the .ts lines either way.
module.enableCompileCache?.();
process.setSourceMapsEnabled(true);

const compiled = new URL('../../../dist/node/cli/borg.js', import.meta.url);
if (existsSync(compiled) && !process.env.BORG_FROM_SOURCE) {
  const { main } = await import(compiled.href);
  await main(process.argv);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../src/main.ts');
  await main(process.argv);
}
