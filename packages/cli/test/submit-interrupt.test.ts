import { describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { adminEnv, borg, CLI_TEST_TIMEOUT_MS, spawnBorg, useTempDir } from './borg-cli.ts';

describe('Ctrl-C during borg submit --follow', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  const mothership = useTestMothership();
  const dir = useTempDir();

  /** Submits a job no runner takes, follows it, presses Ctrl-C once it follows; the job's id, status and borg's answer. */
  async function interrupt(flags: string[]) {
    const follow = spawnBorg(
      ['submit', '--follow', ...flags, '--label', 'pool=nowhere', '--queue-unsatisfiable', '--', 'sleep 30'],
      { env: adminEnv(mothership(), dir()) },
    );
    const submitted = /job ([0-9a-f-]{36}) submitted; following/;
    await expect.poll(() => submitted.exec(follow.stderr())?.[1], { timeout: 20_000 }).toBeTruthy();
    const id = submitted.exec(follow.stderr())![1]!;
    follow.child.kill('SIGINT');
    const result = await follow.done;
    return { result, job: await mothership().admin.getJob(id) };
  }

  it('by default stops following and leaves the job running, saying how to cancel it', async () => {
    const { result, job } = await interrupt([]);
    expect(result.code).toBe(130);
    expect(result.stderr).toContain(`stopped following; job ${job.id} keeps running`);
    expect(result.stderr).toContain('--cancel-on-interrupt');
    expect(job.status).toBe('queued');
  });

  it('with --cancel-on-interrupt cancels the job before exiting', async () => {
    const { result, job } = await interrupt(['--cancel-on-interrupt']);
    expect(result.code).toBe(130);
    expect(result.stderr).toContain(`cancelling job ${job.id}`);
    expect(result.stderr).toContain(`job ${job.id} cancelled`);
    expect(job.status).toBe('cancelled');
  });

  it('says what Ctrl-C does in --help, and --cancel-on-interrupt needs --follow', async () => {
    const [help, alone] = await Promise.all([
      borg(['submit', '--help']),
      borg(['submit', '--cancel-on-interrupt', '--', 'true'], { env: adminEnv(mothership(), dir()) }),
    ]);
    expect(help.stdout.replace(/\s+/g, ' ')).toContain('Ctrl-C stops following and leaves the job running');
    expect(help.stdout).toContain('--cancel-on-interrupt');
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain('--cancel-on-interrupt is for --follow');
  });
});
