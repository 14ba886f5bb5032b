import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

import type { FileInfo } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { adminEnv, borg, CLI_TEST_TIMEOUT_MS, expectOneLineError, useTempDir } from './borg-cli.ts';

const MB = 1024 * 1024;

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

describe('borg files: streamed, sha256-checked transfers', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  const mothership = useTestMothership();
  const dir = useTempDir();

  it('a 50 MB file uploads and downloads identical, to a file and to stdout', async () => {
    const env = adminEnv(mothership(), dir());
    const local = join(dir(), 'big.bin');
    const out = createWriteStream(local);
    for (let i = 0; i < 50; i++) out.write(randomBytes(MB));
    await new Promise((resolve, reject) => out.end(resolve).on('error', reject));
    const expected = await sha256Of(local);

    const upload = await borg(['files', 'upload', local, '-o', 'json'], { env });
    expect(upload.code, upload.stderr).toBe(0);
    const [info] = JSON.parse(upload.stdout) as FileInfo[];
    expect(info).toMatchObject({ filename: 'big.bin', size: 50 * MB, sha256: expected });

    const piped = createHash('sha256');
    let pipedBytes = 0;
    const [toFile, toStdout] = await Promise.all([
      borg(['files', 'download', info!.id, join(dir(), 'copies') + '/'], { env }),
      borg(['files', 'download', info!.id, '-'], {
        env,
        onStdout: (chunk) => {
          piped.update(chunk);
          pipedBytes += chunk.length;
        },
      }),
    ]);
    expect(toFile.code, toFile.stderr).toBe(0);
    expect(toFile.stdout).toContain(`sha256 ${expected} (verified)`);
    const copy = join(dir(), 'copies', 'big.bin');
    expect((await stat(copy)).size).toBe(50 * MB);
    expect(await sha256Of(copy)).toBe(expected);
    expect(toStdout.code, toStdout.stderr).toBe(0);
    expect(pipedBytes).toBe(50 * MB);
    expect(piped.digest('hex')).toBe(expected);

    // It is there now: a second download refuses to overwrite it, unless --force.
    const again = await borg(['files', 'download', info!.id, copy], { env });
    expect(again.code).toBe(7);
    expect(expectOneLineError(again.stderr)).toContain('already exists');
  });

  it('a download whose bytes do not match the sha256 is refused and leaves no file (exit 7)', async () => {
    // A mothership that serves other bytes than the hash it announces (a corrupted blob).
    const body = Buffer.from('these are not the bytes you hashed\n');
    const id = '0c1d2e3f-0000-4000-8000-000000000001';
    const info = {
      id,
      filename: '../../escape.txt', // and a name that tries to leave the directory
      size: body.length,
      sha256: 'f'.repeat(64),
      content_type: 'application/octet-stream',
      created_at: new Date().toISOString(),
    };
    const server = createServer((request, response) => {
      if (request.url === `/api/v1/files/${id}`) {
        response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(info));
      } else if (request.url === `/api/v1/files/${id}/download`) {
        response.writeHead(200, { 'content-length': body.length, 'x-content-sha256': info.sha256 }).end(body);
      } else {
        response.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const target = join(dir(), 'damaged');
      const result = await borg(['files', 'download', id, target + '/'], {
        env: {
          BORG_ADDR: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          BORG_TOKEN: 'any',
          BORG_CONFIG: join(dir(), 'none.json'),
        },
      });
      expect(result.code).toBe(7);
      expect(expectOneLineError(result.stderr)).toMatch(
        /is damaged .* expected 35 bytes with sha256 f{64}\): run it again/,
      );
      expect(await readdir(target)).toEqual([]); // not even the temp file
    } finally {
      server.close();
    }
  });
});
