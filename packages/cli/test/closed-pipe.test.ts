import { spawn } from 'node:child_process';

import { describe, expect, it } from 'vitest';

import { BORG_BIN } from './borg-cli.ts';

describe('output into a pipe nobody reads any more (borg … | head)', () => {
  it('ends quietly with exit 0 instead of an unhandled EPIPE', async () => {
    const child = spawn(process.execPath, [BORG_BIN, 'up', '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    // The reading end closes before borg has started, so its first write meets no reader.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
    expect(stderr).not.toContain('EPIPE');
    expect(code).toBe(0);
  });
});
