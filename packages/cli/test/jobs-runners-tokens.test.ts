import type { Job, JobWithTasks, Runner, TokenInfo } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { adminEnv, borg, CLI_TEST_TIMEOUT_MS, spawnBorg, useTempDir } from './borg-cli.ts';

describe('borg jobs, runners and tokens', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  const mothership = useTestMothership();
  const dir = useTempDir();
  const env = () => adminEnv(mothership(), dir());

  it('jobs list filters, jobs show, and pause/resume/cancel/retry on one or many ids', async () => {
    // Labels no runner has: the jobs stay queued, so every action is legal when it runs.
    const make = (name: string) =>
      mothership().admin.createJob({ name, type: 'shell', command: 'true', labels: { pool: 'nowhere' } });
    const [a, b] = [await make('nightly-a'), await make('nightly-b')];
    await make('other');

    const [table, filtered, shown] = await Promise.all([
      borg(['jobs', 'list', '--name', 'nightly-'], { env: env() }),
      borg(['jobs', 'list', '--name', 'nightly-', '--label', 'pool=nowhere', '--status', 'queued', '-o', 'json'], {
        env: env(),
      }),
      borg(['jobs', 'show', a.id, '-o', 'json'], { env: env() }),
    ]);
    expect(table.code, table.stderr).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+TYPE\s+STATUS/);
    expect(table.stdout).toContain('nightly-a');
    expect(table.stdout).not.toContain('other');
    expect((JSON.parse(filtered.stdout) as Job[]).map((j) => j.name).sort()).toEqual(['nightly-a', 'nightly-b']);
    expect((JSON.parse(shown.stdout) as JobWithTasks).tasks).toHaveLength(1);

    const paused = await borg(['jobs', 'pause', a.id, b.id, '-o', 'json'], { env: env() });
    expect((JSON.parse(paused.stdout) as Job[]).map((j) => j.paused)).toEqual([true, true]);

    // One id that cannot be paused (b has ended) does not stop the others; the exit code says so.
    await mothership().admin.cancelJob(b.id);
    const mixed = await borg(['jobs', 'pause', b.id, a.id], { env: env() });
    expect(mixed.code).toBe(6);
    expect(mixed.stdout).toBe(`job ${a.id}: paused\n`);
    expect(mixed.stderr).toBe(
      `borg: cannot pause a job that is cancelled: see its current state with \`borg jobs show ID\` (job ${b.id})\n`,
    );

    const resumed = await borg(['jobs', 'resume', a.id], { env: env() });
    expect(resumed.stdout).toBe(`job ${a.id}: queued\n`);
    const cancelled = await borg(['jobs', 'cancel', a.id], { env: env() });
    expect(cancelled.stdout).toBe(`job ${a.id}: cancelled\n`);

    const retried = await borg(['jobs', 'retry', a.id, '-o', 'json'], { env: env() });
    expect(retried.code, retried.stderr).toBe(0);
    expect((await mothership().admin.getJob(a.id)).tasks.map((t) => t.attempt)).toEqual([1, 2]);
  });

  it('submit --retention --keep-last, jobs set --pin/--unpin/--retention, and jobs delete', async () => {
    const submitted = await borg(
      ['submit', '--label', 'pool=nowhere', '--retention', '36h', '--keep-last', '3', '-o', 'json', '--', 'true'],
      { env: env() },
    );
    expect(submitted.code, submitted.stderr).toBe(0);
    const job = JSON.parse(submitted.stdout) as Job;
    expect(job).toMatchObject({ retention: '1d12h', keep_last: 3, pinned: false });

    const pinned = await borg(['jobs', 'set', job.id, '--pin', '--retention', 'default'], { env: env() });
    expect(pinned.stdout).toBe(`job ${job.id}: pinned; keep last 3; queued\n`);
    expect(await mothership().admin.getJob(job.id)).toMatchObject({ pinned: true, retention: null });
    const nothing = await borg(['jobs', 'set', job.id], { env: env() });
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('nothing to change');

    await mothership().admin.cancelJob(job.id);
    const refused = await borg(['jobs', 'delete', job.id], { env: env() });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('pinned');
    await borg(['jobs', 'set', job.id, '--unpin'], { env: env() });
    const deleted = await borg(['jobs', 'delete', job.id], { env: env() });
    expect(deleted.code, deleted.stderr).toBe(0);
    expect(deleted.stdout).toBe(`job ${job.id}: deleted\n`);
    await expect(mothership().admin.getJob(job.id)).rejects.toMatchObject({ status: 404 });
  });

  it('jobs list --watch prints a new snapshot when a job changes', async () => {
    const watch = spawnBorg(['jobs', 'list', '--watch', '--name', 'watched-', '-o', 'json'], { env: env() });
    try {
      const snapshots = () =>
        watch
          .stdout()
          .split('\n')
          .slice(0, -1) // only complete lines
          .map((line) => JSON.parse(line) as Job[]);
      const soon = { timeout: 20_000 };
      await expect.poll(() => snapshots().length, soon).toBe(1);
      const job = await mothership().admin.createJob({
        name: 'watched-1',
        type: 'shell',
        command: 'true',
        labels: { pool: 'nowhere' },
      });
      await expect.poll(() => snapshots().at(-1)?.[0]?.id, soon).toBe(job.id);
      await mothership().admin.pauseJob(job.id);
      await expect.poll(() => snapshots().at(-1)?.[0]?.paused, soon).toBe(true);
      expect(snapshots()[0]).toEqual([]);
    } finally {
      watch.child.kill('SIGINT');
      await watch.done;
    }
  });

  it('runners list, show, drain and resume', async () => {
    const runner = await mothership().registerRunner({ name: 'gpu-box', labels: { gpu: 'a100' } });
    const [list, show] = await Promise.all([
      borg(['runners', 'list'], { env: env() }),
      borg(['runners', 'show', runner.id], { env: env() }),
    ]);
    expect(list.stdout).toMatch(new RegExp(`${runner.id}\\s+gpu-box\\s+online\\s+0/1`));
    expect(show.stdout).toMatch(/labels:\s+gpu=a100/);
    expect(show.stdout).toMatch(/job types:\s+all \(shell, binary, container\)/);
    const shellOnly = await mothership().registerRunner({ name: 'shell-box', job_types: ['shell', 'binary'] });
    const shownTypes = await borg(['runners', 'show', shellOnly.id], { env: env() });
    expect(shownTypes.stdout).toMatch(/job types:\s+shell, binary\n/);

    const drained = await borg(['runners', 'drain', runner.id, '-o', 'json'], { env: env() });
    expect((JSON.parse(drained.stdout) as Runner[])[0]!.draining).toBe(true);
    const resumed = await borg(['runners', 'resume', runner.id], { env: env() });
    expect(resumed.stdout).toBe(`runner ${runner.id} (gpu-box): online\n`);

    // A runner that said it was stopping reads so.
    await mothership()
      .registerRunner({ name: 'leaving-box' })
      .then(async (leaving) => {
        await leaving.client.heartbeat(leaving.id, { status: 'stopping' });
        const listed = await borg(['runners', 'list'], { env: env() });
        expect(listed.stdout).toMatch(new RegExp(`${leaving.id}\\s+leaving-box\\s+offline \\(stopped\\)`));
      });

    const deleted = await borg(['runners', 'delete', runner.id], { env: env() });
    expect(deleted.stdout).toBe(`runner ${runner.id} (gpu-box): offline\n`);
    expect((await borg(['runners', 'list'], { env: env() })).stdout).not.toContain(runner.id);
    const again = await borg(['runners', 'delete', runner.id], { env: env() });
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain(`runner ${runner.id} does not exist`);
  });

  it('tokens create --kind registration takes --max-uses and --allow-label, and the mothership holds runners to them', async () => {
    const created = await borg(
      [
        'tokens',
        'create',
        'cpu pool',
        '--kind',
        'registration',
        '--max-uses',
        '3',
        '--allow-label',
        'pool=cpu',
        '--allow-label',
        'zone=a',
        '--allow-label',
        'zone=b',
        '-o',
        'json',
      ],
      { env: env() },
    );
    expect(created.code, created.stderr).toBe(0);
    const token = JSON.parse(created.stdout) as TokenInfo & { token: string };
    expect(token).toMatchObject({
      kind: 'registration',
      max_uses: 3,
      allowed_labels: { pool: 'cpu', zone: ['a', 'b'] },
    });
    const list = await borg(['tokens', 'list'], { env: env() });
    expect(list.stdout).toMatch(/cpu pool\s+registration\s+-\s+0\/3\s+pool=cpu,zone=a\|b/);
    const gpu = mothership()
      .client(token.token)
      .register({ device_id: 'cli-gpu', name: 'gpu', labels: { pool: 'gpu' } });
    await expect(gpu).rejects.toMatchObject({ status: 403 });
    const bad = await borg(['tokens', 'create', 'x', '--kind', 'registration', '--allow-label', 'pool'], {
      env: env(),
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--allow-label "pool" is not KEY=VALUE');
  });

  it('tokens create prints the token once; it works until tokens revoke', async () => {
    const created = await borg(['tokens', 'create', 'ci', '--expires', '1d'], { env: env() });
    expect(created.code, created.stderr).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^borg_usr_/);
    expect(created.stderr).toContain('not shown again');

    const asCi = { ...env(), BORG_TOKEN: token };
    expect((await borg(['jobs', 'list'], { env: asCi })).code).toBe(0);
    const list = await borg(['tokens', 'list', '-o', 'json'], { env: env() });
    const info = (JSON.parse(list.stdout) as TokenInfo[]).find((t) => t.name === 'ci')!;
    expect(info.expires_at).not.toBeNull();
    expect(info.role).toBe('submitter');
    expect(list.stdout).not.toContain(token);
    // A submitter may not manage tokens, and is told which role would.
    const refused = await borg(['tokens', 'list'], { env: asCi });
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain('this route needs the admin role; this token is a submitter');
    expect(refused.stderr).toContain('--role ROLE');

    const viewer = await borg(['tokens', 'create', 'wallboard', '--role', 'viewer'], { env: env() });
    expect(viewer.stderr).toContain('(user, viewer) created');
    const asViewer = { ...env(), BORG_TOKEN: viewer.stdout.trim() };
    expect((await borg(['jobs', 'list'], { env: asViewer })).code).toBe(0);
    expect((await borg(['submit', '--', 'true'], { env: asViewer })).stderr).toContain('needs the submitter role');

    const revoked = await borg(['tokens', 'revoke', info.id], { env: env() });
    expect(revoked.stdout).toBe(`token ${info.id} (ci) revoked\n`);
    expect((await borg(['jobs', 'list'], { env: asCi })).code).toBe(4);
  });
});
