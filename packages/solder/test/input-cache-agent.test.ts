import { randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { finishedJob, type InProcessSolder, startSolder } from '../../../test/test-solder.ts';
import { workDirOf } from '../src/config.ts';

describe('a solder with --cache-size', () => {
  const borg = useTestMothership();
  let solder: InProcessSolder;

  beforeAll(async () => {
    solder = await startSolder(borg(), { cacheSize: '100KB' });
  });
  afterAll(async () => {
    await solder?.stop({ cancelRunning: true });
  });

  const cacheDir = () => join(solder.config.stateDir, 'cache');
  const cached = async () => (await readdir(cacheDir()).catch(() => [])).filter((name) => !name.startsWith('.'));

  it('keeps an input larger than the cache while its task runs, and drops it when the task ends', async () => {
    const file = await borg().admin.uploadFile(new Blob([randomBytes(150_000)]), 'big.bin');
    const job = await borg().admin.createJob({
      name: 'big-input',
      type: 'shell',
      // The task checks its copy, then runs on until the test has looked at the cache.
      command: `test "$(sha256sum in/big.bin | cut -d" " -f1)" = ${file.sha256} && while [ ! -e go ]; do sleep 0.05; done`,
      files: [{ file_id: file.id, path: 'in/big.bin' }],
    });
    const task = await vi.waitFor(
      async () => {
        const [running] = (await borg().admin.getJob(job.id)).tasks;
        expect(running?.status).toBe('running');
        return running!;
      },
      { timeout: 20_000 },
    );
    // Over the cap, yet kept: its task is running.
    expect(await cached()).toEqual([file.sha256]);
    await writeFile(join(workDirOf(solder.config), 'tasks', task.id, 'go'), '');

    expect((await finishedJob(borg(), job.id)).status).toBe('succeeded');
    await vi.waitFor(async () => expect(await cached()).toEqual([]));
  });
});
