import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { Job, Schedule } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { adminEnv, borg, CLI_TEST_TIMEOUT_MS, expectOneLineError, useTempDir, UUID } from './borg-cli.ts';

describe('borg schedules', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  const mothership = useTestMothership();
  const dir = useTempDir();
  const env = () => adminEnv(mothership(), dir());

  it('creates a schedule from flags, lists and shows it, triggers, pauses, resumes and deletes it by id prefix', async () => {
    const created = await borg(
      [
        'schedules',
        'create',
        '--name',
        'nightly build',
        '--cron',
        '0 3 * * *',
        '--timezone',
        'Europe/Berlin',
        '--label',
        'pool=nobody',
        '--keep-last',
        '7',
        '--retention',
        '14d',
        '--',
        'make',
        'nightly',
      ],
      { env: env() },
    );
    expect(created.code, created.stderr).toBe(0);
    const id = created.stdout.trim();
    expect(id).toMatch(UUID);
    const schedule = await mothership().admin.getSchedule(id);
    expect(schedule).toMatchObject({
      name: 'nightly build',
      cron: '0 3 * * *',
      timezone: 'Europe/Berlin',
      overlap: 'skip',
      job: {
        name: 'nightly build',
        type: 'shell',
        command: 'make nightly',
        labels: { pool: 'nobody' },
        keep_last: 7,
        retention: '14d',
      },
    });

    // `borg schedules` alone lists them.
    const listed = await borg(['schedules'], { env: env() });
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout.split('\n')[0]).toMatch(/^ID\s+NAME\s+CRON\s+TIMEZONE\s+NEXT\s+LAST$/);
    expect(listed.stdout).toMatch(
      new RegExp(`${id}\\s+nightly build\\s+0 3 \\* \\* \\*\\s+Europe/Berlin\\s+in \\d+[smhd] \\(`),
    );

    const prefix = id.slice(0, 8);
    const triggered = await borg(['schedules', 'trigger', prefix], { env: env() });
    expect(triggered.code, triggered.stderr).toBe(0);
    const job = await mothership().admin.getJob(triggered.stdout.trim());
    expect(job).toMatchObject({ schedule_id: id, command: 'make nightly', keep_last: 7, retention: '14d' });

    const shown = await borg(['schedules', 'show', prefix], { env: env() });
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/^cron:\s+0 3 \* \* \* \(Europe\/Berlin\)$/m);
    expect(shown.stdout).toMatch(/^job:\s+nightly build \(shell\): make nightly$/m);
    expect(shown.stdout).toMatch(/^FOR\s+TRIGGER\s+OUTCOME\s+JOB\s+STATUS\s+LATE\s+REASON$/m);
    expect(shown.stdout).toMatch(new RegExp(`manual\\s+created\\s+${job.id}\\s+queued\\s+\\d+\\.\\d+s`));

    const paused = await borg(['schedules', 'pause', prefix], { env: env() });
    expect(paused.stdout).toBe(`schedule ${id} (nightly build) paused\n`);
    expect((await mothership().admin.getSchedule(id)).paused).toBe(true);
    expect((await borg(['schedules', 'list'], { env: env() })).stdout).toMatch(/Europe\/Berlin\s+paused/);
    const resumed = await borg(['schedules', 'resume', prefix], { env: env() });
    expect(resumed.stdout).toMatch(/^schedule .+ \(nightly build\) resumed; next fire in \d+[smhd] \(.+ UTC\)\n$/);

    const json = JSON.parse((await borg(['schedules', 'show', id, '-o', 'json'], { env: env() })).stdout) as Schedule;
    expect(json.last_fires[0]).toMatchObject({ job_id: job.id, trigger: 'manual' });

    const deleted = await borg(['schedules', 'delete', prefix], { env: env() });
    expect(deleted.stdout).toBe(`schedule ${id} (nightly build) deleted\n`);
    const gone = await borg(['schedules', 'show', id], { env: env() });
    expect(gone.code).toBe(3);
    expect(expectOneLineError(gone.stderr)).toMatch(new RegExp(`^borg: schedule ${id} does not exist`));
  });

  it('creates a schedule from a YAML file, flags winning over its fields', async () => {
    const file = join(dir(), 'report.yaml');
    await writeFile(
      file,
      [
        'name: weekly report',
        "cron: '0 6 * * MON'",
        'timezone: America/New_York',
        'overlap: allow',
        'catch_up: last',
        'job:',
        '  name: report',
        '  type: binary',
        '  command: [/usr/bin/env, python3, report.py]',
        '  labels: {pool: nobody}',
        '',
      ].join('\n'),
    );
    const created = await borg(['schedules', 'create', '--from', file, '--cron', '0 7 * * MON', '-o', 'json'], {
      env: env(),
    });
    expect(created.code, created.stderr).toBe(0);
    expect(JSON.parse(created.stdout) as Schedule).toMatchObject({
      name: 'weekly report',
      cron: '0 7 * * MON',
      timezone: 'America/New_York',
      overlap: 'allow',
      catch_up: 'last',
      job: { name: 'report', type: 'binary', command: ['/usr/bin/env', 'python3', 'report.py'] },
    });
  });

  it('says in one line what is wrong with a schedule', async () => {
    const cases: Array<[string[], RegExp, number]> = [
      [['--name', 'x', '--cron', '61 * * * *', '--', 'true'], /cron "61 \* \* \* \*" is not valid/, 2],
      [['--name', 'x', '--cron', '0 3 * * *', '--timezone', 'Mars/Base', '--', 'true'], /timezone "Mars\/Base"/, 2],
      [['--name', 'x', '--cron', '0 3 * * *'], /no command given/, 2],
      [['--cron', '0 3 * * *', '--', 'true'], /a schedule needs a name/, 2],
      [['--name', 'x', '--cron', '0 3 * * *', '--overlap', 'queue', '--', 'true'], /--overlap/, 2],
      [['--from', join(dir(), 'missing.yaml')], /cannot read .*missing\.yaml \(ENOENT\)/, 2],
    ];
    for (const [args, message, code] of cases) {
      const result = await borg(['schedules', 'create', ...args], { env: env() });
      expect(result.code, args.join(' ')).toBe(code);
      expect(result.stderr, args.join(' ')).toMatch(message);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('prints the triggered job with -o json', async () => {
    const schedule = await mothership().admin.createSchedule({
      name: 'json',
      cron: '0 3 * * *',
      job: { name: 'json', command: 'true', labels: { pool: 'nobody' } },
    });
    const result = await borg(['schedules', 'trigger', schedule.id, '-o', 'json'], { env: env() });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout) as Job).toMatchObject({ schedule_id: schedule.id, status: 'queued' });
  });
});
