/**
 * Keeps V8's young generation of a long-running Borg process (mothership, solder, `borg up`) at
 * its initial size: two semispaces of 1 MB instead of growing to 2 × 16 MB (Node 20) or 2 × 32 MB
 * (Node 24) during start-up and then keeping them, empty, for as long as the process idles. An
 * idle mothership held 29 MB of empty young generation, an idle solder 8 MB.
 *
 * The price is more frequent scavenges under load (each is short: it copies only what survives);
 * docs/performance.md has the throughput figures measured with and without it.
 *
 * `--max-semi-space-size` cannot be changed once the heap exists, but the growth factor is read
 * at each growth, so setting it first thing keeps the young generation where it starts. Whoever
 * sets the young generation's size explicitly (NODE_OPTIONS or node's own flags) keeps theirs.
 *
 * packages/cli/bin/borg.js applies the same rule in plain JavaScript before it loads anything;
 * this module is for the solder bundle (solder-main.ts imports it first).
 */
import { setFlagsFromString } from 'node:v8';

const EXPLICIT = /--(max|min)-semi-space-size|--semi-space-growth-factor/;

export function keepYoungGenerationSmall(): boolean {
  if (EXPLICIT.test(`${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`)) return false;
  setFlagsFromString('--semi-space-growth-factor=1');
  return true;
}

keepYoungGenerationSmall();
