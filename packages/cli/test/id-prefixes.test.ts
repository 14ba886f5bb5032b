import { describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { adminEnv, borg, CLI_TEST_TIMEOUT_MS, expectOneLineError, useTempDir } from './borg-cli.ts';

describe('ids by their first characters', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  const mothership = useTestMothership();
  const dir = useTempDir();
  const env = () => adminEnv(mothership(), dir());
  const queuedJob = (name: string) =>
    mothership().admin.createJob({ name, type: 'shell', command: 'true', labels: { pool: 'nowhere' } });

  it('every command that takes a job, task or runner id takes its first 6 characters or more', async () => {
    const job = await queuedJob('by-prefix');
    const task = (await mothership().admin.getJob(job.id)).tasks[0]!;
    const runner = await mothership().registerRunner({ name: 'prefix-box' });
    const [show, explain, logs, artifacts, runnerShow, drain, upper] = await Promise.all([
      borg(['jobs', 'show', job.id.slice(0, 8), '-o', 'json'], { env: env() }),
      borg(['explain', task.id.slice(0, 6), '-o', 'json'], { env: env() }),
      borg(['logs', task.id.slice(0, 13)], { env: env() }),
      borg(['artifacts', 'list', job.id.slice(0, 10), '-o', 'json'], { env: env() }),
      borg(['runners', 'show', runner.id.slice(0, 7), '-o', 'json'], { env: env() }),
      borg(['runners', 'drain', runner.id.slice(0, 8), '-o', 'json'], { env: env() }),
      borg(['jobs', 'show', job.id.slice(0, 8).toUpperCase(), '-o', 'json'], { env: env() }),
    ]);
    for (const result of [show, explain, logs, artifacts, runnerShow, drain, upper]) {
      expect(result.code, result.stderr).toBe(0);
    }
    expect(JSON.parse(show.stdout)).toMatchObject({ id: job.id });
    expect(JSON.parse(upper.stdout)).toMatchObject({ id: job.id });
    expect(JSON.parse(explain.stdout)).toMatchObject({ task_id: task.id });
    expect(JSON.parse(runnerShow.stdout)).toMatchObject({ id: runner.id, name: 'prefix-box' });
    expect(JSON.parse(drain.stdout)).toMatchObject([{ id: runner.id, draining: true }]);

    // The job controls, one after another (each changes the job).
    for (const verb of ['pause', 'resume', 'cancel']) {
      const result = await borg(['jobs', verb, job.id.slice(0, 6)], { env: env() });
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain(`job ${job.id}:`);
    }
  });

  it('a prefix of more than one id exits 2 and lists them; one of none is not found; a short one is a usage error', async () => {
    const job = await queuedJob('twin-a');
    // A second job whose id shares the first 8 characters (ids are random: make one that does).
    const twinId = `${job.id.slice(0, 8)}-0000-4000-8000-${job.id.slice(-12)}`;
    await mothership().db.query(
      `INSERT INTO jobs SELECT (jsonb_populate_record(NULL::jobs, to_jsonb(j) || jsonb_build_object('id', $2::text, 'name', 'twin-b'))).*
         FROM jobs j WHERE j.id = $1`,
      [job.id, twinId],
    );
    const unknown = job.id.startsWith('ffffff') ? '000000' : 'ffffff';
    const [ambiguous, none, short, wrongKind, badFile] = await Promise.all([
      borg(['jobs', 'show', job.id.slice(0, 8)], { env: env() }),
      borg(['jobs', 'show', unknown], { env: env() }),
      borg(['jobs', 'cancel', 'abc'], { env: env() }),
      borg(['runners', 'show', job.id.slice(0, 9)], { env: env() }),
      borg(['files', 'download', 'banana'], { env: env(), cwd: dir() }),
    ]);
    expect(ambiguous.code).toBe(2);
    const line = expectOneLineError(ambiguous.stderr);
    expect(line).toContain(`${job.id.slice(0, 8)} is the start of 2 ids`);
    expect(line).toContain(`job ${job.id} (twin-a)`);
    expect(line).toContain(`job ${twinId} (twin-b)`);
    expect(none.code).toBe(3);
    expect(expectOneLineError(none.stderr)).toContain(`no job has an id starting with ${unknown}`);
    expect(short.code).toBe(2);
    expect(expectOneLineError(short.stderr)).toContain('"abc" is not a job id');
    expect(wrongKind.code).toBe(3);
    expect(expectOneLineError(wrongKind.stderr)).toContain('no runner has an id starting with');
    // A request path's wording (`params.id`) never reaches the person.
    expect(badFile.code).toBe(2);
    expect(expectOneLineError(badFile.stderr)).toBe('borg: id must be a file id: see `borg <command> --help`');
  });
});
