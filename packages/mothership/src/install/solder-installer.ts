import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';

import { borgPath } from '../borg-root.ts';
import { BorgError } from '../errors.ts';

/** Where the install script and the solder bundle are, relative to the checkout (or image) root. */
const SCRIPT = 'deploy/install.sh';
const BUNDLE = 'dist/node/borg-solder.mjs';
const URL_PLACEHOLDER = '@BORG_MOTHERSHIP_URL@';
/** What may go into the script's single-quoted URL: nothing that ends the quote or the line. */
const SAFE_URL = /^https?:\/\/[A-Za-z0-9.\-:[\]]+(\/[A-Za-z0-9._~\-/]*)?$/;

/**
 * Serves what a new worker needs to become a runner: the install script, with this mothership's
 * address in it, and the solder bundle with its checksum (made by `npm run build`).
 */
export class SolderInstaller {
  /** The script, pointing at `baseUrl` (BORG_PUBLIC_URL, or the address the request came to). */
  async script(baseUrl: string): Promise<string> {
    const url = baseUrl.replace(/\/+$/, '');
    if (!SAFE_URL.test(url)) throw new BorgError('VALIDATION_FAILED', `not an address to put in a script: ${url}`);
    const template = await readFile(this.path(SCRIPT), 'utf8');
    return template.replace(URL_PLACEHOLDER, url);
  }

  /** The bundle's path, for streaming. */
  bundlePath(): string {
    return this.path(BUNDLE);
  }

  async checksum(): Promise<string> {
    return readFile(this.path(`${BUNDLE}.sha256`), 'utf8');
  }

  private path(relative: string): string {
    const path = borgPath(relative);
    if (!existsSync(path)) {
      throw new BorgError(
        'NOT_FOUND',
        `${relative} is not on this mothership: run \`npm run build\` in its checkout to make the solder bundle`,
      );
    }
    return path;
  }
}
