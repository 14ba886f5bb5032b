import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll } from 'vitest';

import type { TestMothership } from '../../../test/test-mothership.ts';

/** The real `borg` binary, run as a user would: `node packages/cli/bin/borg.js …`. */
export const BORG_BIN = new URL('../bin/borg.js', import.meta.url).pathname;

/**
 * Each `borg` run costs ~1.3 s of CPU to start (Node, tsx's loader, zod); a test makes several,
 * and CI machines are shared, so tests get more than the suite's default 30 s.
 */
export const CLI_TEST_TIMEOUT_MS = 120_000;

export interface BorgResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface BorgProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  done: Promise<BorgResult>;
}

export interface BorgOptions {
  /** Added to the environment; undefined removes a variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  input?: string;
  /** Collect stdout as bytes instead (large downloads to `-`). */
  onStdout?: (chunk: Buffer) => void;
}

/**
 * The environment every CLI test starts from: none of the developer's own Borg settings (a
 * BORG_TOKEN in their shell, their ~/.config/borg) can leak in, and nothing is a terminal.
 */
function cleanEnv(extra: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(BORG_|XDG_CONFIG_HOME$|NO_COLOR$)/.test(key) || key === 'BORG_TEST_DATABASE_URL') env[key] = value;
  }
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

export function spawnBorg(args: string[], options: BorgOptions = {}): BorgProcess {
  const child = spawn(process.execPath, [BORG_BIN, ...args], {
    cwd: options.cwd,
    env: cleanEnv(options.env ?? {}),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (options.onStdout ? options.onStdout(chunk) : (stdout += chunk)));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk));
  child.stdin!.end(options.input ?? '');
  const done = new Promise<BorgResult>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

export function borg(args: string[], options: BorgOptions = {}): Promise<BorgResult> {
  return spawnBorg(args, options).done;
}

/** A temp directory for the file's tests (config file, local files), removed after them. */
export function useTempDir(): () => string {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'borg-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return () => dir;
}

/** BORG_ADDR and BORG_TOKEN for the test mothership's admin, and a config file nobody else uses. */
export function adminEnv(borg: TestMothership, dir: string): Record<string, string> {
  return { BORG_ADDR: borg.url, BORG_TOKEN: borg.adminToken, BORG_CONFIG: join(dir, 'unused-config.json') };
}

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A user error is one line on stderr, `borg: …`, and never a stack trace. */
export function expectOneLineError(stderr: string): string {
  const lines = stderr.trimEnd().split('\n');
  if (lines.length !== 1 || !lines[0]!.startsWith('borg: ') || /\n\s+at /.test(stderr)) {
    throw new Error(`expected one "borg: …" line on stderr, got:\n${stderr}`);
  }
  return lines[0]!;
}

/** An address where nothing listens: a port the system just handed out, closed again. */
export async function closedAddress(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}`;
}
