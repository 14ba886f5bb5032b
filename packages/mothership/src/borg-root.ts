import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A directory only Borg's checkout (or container image) root has. */
const MARKER = join('packages', 'mothership', 'migrations');

/**
 * The checkout (or image) root: the nearest directory above this module that holds Borg's files.
 * The sources and the compiled build (dist/node-…/cli/chunks/) sit at different depths below it,
 * so files the mothership reads at run time (migrations, the dashboard, the install script and
 * the solder bundle) are found from here, never relative to the module.
 */
function findRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, MARKER))) return dir;
    if (dirname(dir) === dir) throw new Error(`Borg's files (${MARKER}) are not in any directory above ${from}`);
  }
}

export const BORG_ROOT = findRoot(dirname(fileURLToPath(import.meta.url)));

/** The path of one of Borg's own files, from the root. */
export function borgPath(...parts: string[]): string {
  return join(BORG_ROOT, ...parts);
}
