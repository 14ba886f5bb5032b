#!/usr/bin/env node
// The `borg` command. Borg is written in TypeScript and runs from source through tsx's loader,
// so a fresh clone needs no build step before `npx borg`.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
await main(process.argv);
