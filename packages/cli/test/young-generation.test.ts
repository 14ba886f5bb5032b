import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { borg, CLI_TEST_TIMEOUT_MS, useTempDir } from './borg-cli.ts';

/** What the start-up leaves of V8's young generation: semispaces of 1 MB are 2 MB together. */
const INITIAL_YOUNG_GENERATION = 2 * 1024 * 1024;
const BUNDLE = new URL('../../../dist/node/borg-solder.mjs', import.meta.url).pathname;

/** A module for --import that prints the young generation's size as the process exits. */
const PROBE = `import v8 from 'node:v8';
process.on('exit', () => {
  const young = v8.getHeapSpaceStatistics().find((space) => space.space_name === 'new_space');
  process.stderr.write(\`young generation: \${young.space_size}\\n\`);
});
`;

function youngGeneration(stderr: string): number {
  const match = /young generation: (\d+)/.exec(stderr);
  if (!match) throw new Error(`no young generation size in:\n${stderr}`);
  return Number(match[1]);
}

describe('the young generation of the servers', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  const dir = useTempDir();
  const probe = async () => {
    const path = join(dir(), 'probe.mjs');
    await writeFile(path, PROBE);
    return path;
  };

  it('stays at its initial size through start-up in borg solder, borg mothership and the bundle; client commands grow it', async () => {
    const importProbe = `--import=${await probe()}`;
    const env = { NODE_OPTIONS: importProbe };
    const [solder, mothership, client] = await Promise.all([
      borg(['solder', '--help'], { env }),
      borg(['mothership', '--help'], { env }),
      // The program's help loads every command; one client command alone no longer allocates
      // enough during start-up to grow it.
      borg(['--help'], { env }),
    ]);
    const bundle = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [importProbe, BUNDLE, '--help'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
      child.on('error', reject);
      child.on('close', () => resolve(stderr));
    });
    expect(youngGeneration(solder.stderr)).toBe(INITIAL_YOUNG_GENERATION);
    expect(youngGeneration(mothership.stderr)).toBe(INITIAL_YOUNG_GENERATION);
    // The bundle sets the rule from its own first module, after V8 has compiled the whole file:
    // on Node 24 that compile grows the young generation once (to 4 MB), before any code can run.
    expect(youngGeneration(bundle)).toBeLessThanOrEqual(2 * INITIAL_YOUNG_GENERATION);
    // The same start-up without the rule grows it: the assertions above are not trivially true.
    expect(youngGeneration(client.stderr)).toBeGreaterThan(2 * INITIAL_YOUNG_GENERATION);
  });

  it("leaves it to node's flags when they size the young generation", async () => {
    const env = { NODE_OPTIONS: `--import=${await probe()} --max-semi-space-size=16` };
    const solder = await borg(['solder', '--help'], { env });
    expect(youngGeneration(solder.stderr)).toBeGreaterThan(INITIAL_YOUNG_GENERATION);
  });
});
