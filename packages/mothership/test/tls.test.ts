import { execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { createTestDatabase, ENGINE, type TestDatabase } from '../../../test/test-database.ts';
import { TestMothership } from '../../../test/test-mothership.ts';
import { eventually } from '../../../test/test-solder.ts';
import { BORG_BIN, spawnBorg } from '../../cli/test/borg-cli.ts';
import { loadConfig } from '../src/config.ts';

/**
 * Built-in HTTPS (BORG_TLS_CERT, BORG_TLS_KEY): served from the files, reloaded from them
 * without dropping a connection, a bad file on reload keeps the pair in use, and the CLI and
 * the solder work against an https:// mothership whose CA they are given (NODE_EXTRA_CA_CERTS).
 */

interface Pair {
  cert: string;
  key: string;
  fingerprint: string;
}

const dir = mkdtemp(join(tmpdir(), 'borg-tls-'));
afterAll(async () => rm(await dir, { recursive: true, force: true }));

/** A self-signed certificate for localhost and 127.0.0.1, made with the openssl CLI. */
async function selfSigned(name: string): Promise<Pair> {
  const cert = join(await dir, `${name}.crt`);
  const key = join(await dir, `${name}.key`);
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', `/CN=${name}`, '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
    '-keyout', key, '-out', cert,
  ], { stdio: 'ignore' }); // prettier-ignore
  return { cert, key, fingerprint: new X509Certificate(await readFile(cert)).fingerprint256 };
}

/** The files the mothership is configured with; a "renewal" copies another pair over them. */
async function install(pair: Pair, target: { cert: string; key: string }): Promise<void> {
  await copyFile(pair.cert, target.cert);
  await copyFile(pair.key, target.key);
}

/** GET /healthz over HTTPS, trusting `ca`: the status, the served certificate's fingerprint, whether the socket was reused. */
function get(url: string, ca: Buffer[], agent: Agent | false = false) {
  return new Promise<{ status: number; fingerprint: string; reused: boolean }>((resolve, reject) => {
    const req = request(`${url}/healthz`, { ca, agent }, (res) => {
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, fingerprint, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('TLS settings', () => {
  it('refuses one of BORG_TLS_CERT and BORG_TLS_KEY without the other', () => {
    expect(() => loadConfig({}, { BORG_TLS_CERT: '/etc/borg/cert.pem' })).toThrow(
      /BORG_TLS_KEY \(--tls-key\): BORG_TLS_CERT and BORG_TLS_KEY go together/,
    );
    expect(() => loadConfig({}, { BORG_TLS_KEY: '/etc/borg/key.pem' })).toThrow(/BORG_TLS_CERT \(--tls-cert\)/);
    expect(loadConfig({}, { BORG_TLS_CERT: 'c.pem', BORG_TLS_KEY: 'k.pem' })).toMatchObject({
      tlsCert: 'c.pem',
      tlsKey: 'k.pem',
    });
  });

  it('refuses to start with a key that is not the certificate’s, or a file it cannot read', async () => {
    const [a, b] = [await selfSigned('mismatch-a'), await selfSigned('mismatch-b')];
    await expect(TestMothership.start({ config: { tlsCert: a.cert, tlsKey: b.key } })).rejects.toThrow(
      /not a usable certificate and key/,
    );
    await expect(
      TestMothership.start({ config: { tlsCert: a.cert, tlsKey: join(await dir, 'none') } }),
    ).rejects.toThrow(/BORG_TLS_KEY: cannot read/);
  });
});

describe('a mothership serving HTTPS', () => {
  let borg: TestMothership;
  let first: Pair;
  let second: Pair;
  let files: { cert: string; key: string };
  let ca: Buffer[];

  beforeAll(async () => {
    [first, second] = [await selfSigned('first'), await selfSigned('second')];
    ca = [await readFile(first.cert), await readFile(second.cert)];
    files = { cert: join(await dir, 'served.crt'), key: join(await dir, 'served.key') };
    await install(first, files);
    borg = await TestMothership.start({ config: { tlsCert: files.cert, tlsKey: files.key } });
  });
  afterAll(async () => borg?.close());

  it('answers over HTTPS with its certificate, and plain HTTP is not served', async () => {
    expect(borg.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(await get(borg.url, ca)).toMatchObject({ status: 200, fingerprint: first.fingerprint });
    await expect(fetch(borg.url.replace('https:', 'http:') + '/healthz')).rejects.toThrow();
  });

  it('serves a renewed pair to new connections after a reload, keeping open connections, and keeps the pair in use when a file is bad', async () => {
    const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect(await get(borg.url, ca, keepAlive)).toMatchObject({ status: 200, fingerprint: first.fingerprint });

      await install(second, files);
      expect(await borg.mothership.reloadTls()).toBe(true);
      expect(await get(borg.url, ca)).toMatchObject({ status: 200, fingerprint: second.fingerprint });
      // The connection opened before the reload is still open, and still answers.
      expect(await get(borg.url, ca, keepAlive)).toEqual({ status: 200, fingerprint: first.fingerprint, reused: true });

      // A half-written renewal (a key that does not parse), then a missing certificate: refused, logged,
      // and the pair in use goes on being served.
      await writeFile(files.key, '-----BEGIN PRIVATE KEY-----\nnot a key\n');
      expect(await borg.mothership.reloadTls()).toBe(false);
      expect(await get(borg.url, ca)).toMatchObject({ status: 200, fingerprint: second.fingerprint });
      await rm(files.cert);
      expect(await borg.mothership.reloadTls()).toBe(false);
      expect(await get(borg.url, ca)).toMatchObject({ status: 200, fingerprint: second.fingerprint });
    } finally {
      keepAlive.destroy();
    }
  });
});

describe('`borg mothership` with TLS, the CLI and a solder over https://', () => {
  let database: TestDatabase;
  const stops: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    await database?.drop();
  });

  it(
    'reloads on SIGHUP, and borg and the solder trust it through NODE_EXTRA_CA_CERTS',
    { timeout: 120_000 },
    async () => {
      const [first, second] = [await selfSigned('process-first'), await selfSigned('process-second')];
      const files = { cert: join(await dir, 'process.crt'), key: join(await dir, 'process.key') };
      await install(first, files);
      // Both certificates in one bundle, so the clients keep trusting the server across the renewal.
      const bundle = join(await dir, 'ca-bundle.pem');
      await writeFile(bundle, (await readFile(first.cert, 'utf8')) + (await readFile(second.cert, 'utf8')));
      const ca = [await readFile(bundle)];

      database = await createTestDatabase();
      const port = await freePort();
      const adminToken = `tls-admin-${'a'.repeat(32)}`;
      const registrationToken = `tls-reg-${'r'.repeat(32)}`;
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        BORG_HOST: '127.0.0.1',
        BORG_PORT: String(port),
        BORG_DATA_DIR: database.dataDir,
        BORG_ADMIN_TOKEN: adminToken,
        BORG_REGISTRATION_TOKEN: registrationToken,
        BORG_TLS_CERT: files.cert,
        BORG_TLS_KEY: files.key,
        BORG_LOG_LEVEL: 'info',
        ...(ENGINE === 'postgres' ? { DATABASE_URL: database.databaseUrl } : {}),
      };
      const mothership = spawn(process.execPath, [BORG_BIN, 'mothership'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      mothership.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      mothership.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise((resolve) => mothership.on('exit', resolve));
      stops.push(async () => {
        mothership.kill('SIGKILL');
        await exited;
      });
      await eventually(
        () => output.includes(`listening on https://127.0.0.1:${port}`),
        60_000,
        'the HTTPS banner',
      ).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}; the mothership said:\n${output}`);
      });
      const url = `https://localhost:${port}`;
      expect(await get(url, ca)).toMatchObject({ status: 200, fingerprint: first.fingerprint });

      // A solder and the CLI, given the CA as any Node program can be.
      const clientEnv = { NODE_EXTRA_CA_CERTS: bundle, BORG_ADDR: url, BORG_TOKEN: adminToken };
      // Not inside the 0700 temp directory: a solder running as root runs tasks as another user,
      // who must reach their workspace under the state directory.
      const stateDir = join(tmpdir(), 'borg-solder-tests', `tls-${process.pid}-${Date.now()}`);
      await mkdir(stateDir, { recursive: true });
      stops.push(() => rm(stateDir, { recursive: true, force: true }));
      const solder = spawnBorg(
        [
          'solder',
          '--mothership',
          url,
          '--registration-token',
          registrationToken,
          '--state-dir',
          stateDir,
          '--long-poll',
          '5',
        ],
        { env: { NODE_EXTRA_CA_CERTS: bundle, BORG_LOG_LEVEL: 'warn' } },
      );
      stops.push(async () => {
        solder.child.kill('SIGKILL');
        await solder.done;
      });
      const before = await spawnBorg(['submit', '--follow', '--', 'echo before-renewal'], { env: clientEnv }).done;
      expect(before).toMatchObject({ code: 0 });
      expect(before.stdout).toContain('before-renewal');

      // Renewal: new files, SIGHUP; the process stays up and new connections get the new certificate.
      await install(second, files);
      mothership.kill('SIGHUP');
      await eventually(
        async () => (await get(url, ca)).fingerprint === second.fingerprint,
        20_000,
        'the renewed certificate',
      );
      expect(mothership.exitCode).toBeNull();
      expect(output).toContain('TLS certificate and key reloaded');

      const after = await spawnBorg(['submit', '--follow', '--', 'echo after-renewal'], { env: clientEnv }).done;
      expect(after).toMatchObject({ code: 0 });
      expect(after.stdout).toContain('after-renewal');
      // Without the CA, the CLI refuses the server rather than trusting it.
      const untrusted = await spawnBorg(['jobs', 'list'], { env: { BORG_ADDR: url, BORG_TOKEN: adminToken } }).done;
      expect(untrusted.code).not.toBe(0);
    },
  );
});

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
