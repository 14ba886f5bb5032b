import { readFile } from 'node:fs/promises';
import { createSecureContext, type Server as TlsServer } from 'node:tls';

import type { Logger } from 'pino';

/** The certificate chain and private key files (BORG_TLS_CERT, BORG_TLS_KEY), both PEM. */
export interface TlsFiles {
  cert: string;
  key: string;
}

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
}

/**
 * Reads the certificate and key and checks that they make a usable pair, so that a wrong file
 * is refused with its name at start or reload, not found out at the first client's handshake.
 */
export async function readTls(files: TlsFiles): Promise<TlsMaterial> {
  const [cert, key] = await Promise.all([readNamed(files.cert, 'BORG_TLS_CERT'), readNamed(files.key, 'BORG_TLS_KEY')]);
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    throw new Error(
      `BORG_TLS_CERT (${files.cert}) and BORG_TLS_KEY (${files.key}) are not a usable certificate and key: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return { cert, key };
}

async function readNamed(path: string, variable: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new Error(`${variable}: cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Reads the files again and serves them to new connections; connections already open keep the
 * certificate they were made with. A file that cannot be read or a pair that does not match is
 * logged, and the certificate in use stays: a half-copied renewal never takes the server down.
 */
export async function reloadTls(server: TlsServer, files: TlsFiles, log: Logger): Promise<boolean> {
  try {
    server.setSecureContext(await readTls(files));
    log.info({ cert: files.cert }, 'TLS certificate and key reloaded');
    return true;
  } catch (error) {
    log.error({ err: error }, 'TLS certificate not reloaded: still serving the previous one');
    return false;
  }
}
