import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { JobWithTasks } from '@borg/protocol';
import { expect, vi } from 'vitest';

import { Agent, type AgentOptions } from '../packages/solder/src/agent.ts';
import { loadSolderConfig, type SolderConfig } from '../packages/solder/src/config.ts';
import type { TestMothership } from './test-mothership.ts';

const BORG_BIN = new URL('../packages/cli/bin/borg.js', import.meta.url).pathname;

async function freshStateDir(): Promise<string> {
  const dir = join(tmpdir(), 'borg-solder-tests', randomBytes(6).toString('hex'));
  await mkdir(dir, { recursive: true });
  return dir;
}

export interface InProcessSolder {
  agent: Agent;
  config: SolderConfig;
  /** Drains (or with cancelRunning, cancels) and removes its state directory. */
  stop(options?: { cancelRunning?: boolean }): Promise<void>;
}

/**
 * A solder agent in the test's own process, registered with the test mothership — or with any
 * mothership given by its URL and registration token (another replica, a proxy in front of one).
 */
export async function startSolder(
  borg: Pick<TestMothership, 'url' | 'registrationToken'>,
  settings: Partial<Record<keyof SolderConfig, unknown>> = {},
  options: AgentOptions = {},
): Promise<InProcessSolder> {
  const stateDir = await freshStateDir();
  const config = await loadSolderConfig(
    {
      mothership: borg.url,
      registrationToken: borg.registrationToken,
      stateDir,
      maxConcurrentTasks: 2,
      longPollSeconds: 5,
      cancelGracePeriod: 1,
      ...settings,
    },
    {},
  );
  const agent = new Agent(config, { log: () => undefined, ...options });
  await agent.start();
  return {
    agent,
    config,
    stop: async (stopOptions) => {
      await agent.stop(stopOptions).catch(() => undefined);
      await rm(stateDir, { recursive: true, force: true });
    },
  };
}

export interface SolderProcess {
  child: ChildProcess;
  stateDir: string;
  output: () => string;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
  cleanup(): Promise<void>;
}

/**
 * `borg solder` as a real child process (for SIGKILL, SIGTERM and restarts). `via` reaches the
 * mothership at another address, and `wrap` runs it inside another command (`ip netns exec NS`).
 */
export async function spawnSolder(
  borg: TestMothership,
  args: string[] = [],
  stateDir?: string,
  options: { via?: string; wrap?: string[] } = {},
): Promise<SolderProcess> {
  const dir = stateDir ?? (await freshStateDir());
  const [command, ...prefix] = [...(options.wrap ?? []), process.execPath];
  const child = spawn(
    command!,
    [
      ...prefix,
      BORG_BIN,
      'solder',
      '--mothership',
      options.via ?? borg.url,
      '--registration-token',
      borg.registrationToken,
      '--state-dir',
      dir,
      '--long-poll',
      '5',
      '--cancel-grace-period',
      '1',
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BORG_LOG_LEVEL: 'warn' } },
  );
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  return {
    child,
    stateDir: dir,
    output: () => output,
    exited,
    cleanup: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Polls (vi.waitFor) until check() returns a value (not undefined/false), or fails after
 * timeoutMs. An error thrown by check() fails at once rather than being polled again.
 */
export async function eventually<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<T> {
  const outcome = await vi.waitFor(
    async (): Promise<{ value: T } | { error: unknown }> => {
      let value: T | undefined | false;
      try {
        value = await check();
      } catch (error) {
        return { error };
      }
      if (value === undefined || value === false) throw new Error(`timed out waiting for ${what}`);
      return { value };
    },
    { timeout: timeoutMs, interval: 50 },
  );
  if ('error' in outcome) throw outcome.error;
  return outcome.value;
}

/** The job once it has ended (completed_at set), read through the admin client. */
export function finishedJob(
  borg: Pick<TestMothership, 'admin'>,
  jobId: string,
  timeoutMs = 30_000,
): Promise<JobWithTasks> {
  return vi.waitFor(
    async () => {
      const job = await borg.admin.getJob(jobId);
      expect(job.completed_at, `job ${jobId} to finish`).not.toBeNull();
      return job;
    },
    { timeout: timeoutMs, interval: 100 },
  );
}
