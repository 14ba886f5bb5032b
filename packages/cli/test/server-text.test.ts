import { describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { adminEnv, borg, CLI_TEST_TIMEOUT_MS, expectOneLineError, useTempDir } from './borg-cli.ts';

/** Names a hostile submitter could give: a clipboard write (OSC 52), a screen clear, a C1 next-line, a line break. */
const HOSTILE_A = 'evil\u001b]52;c;aGVsbG8=\u0007-a';
const HOSTILE_B = 'evil\u001b[2J\u0085\n-b';

describe('text from the mothership reaches the terminal only terminal-safe', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  const mothership = useTestMothership();
  const dir = useTempDir();

  it('in error messages (one line, no escape sequence) and in what commands print', async () => {
    const job = await mothership().admin.createJob({
      name: HOSTILE_A,
      type: 'shell',
      command: 'true',
      labels: { pool: 'nowhere' },
    });
    const twinId = `${job.id.slice(0, 8)}-0000-4000-8000-${job.id.slice(-12)}`;
    await mothership().db.query(
      `INSERT INTO jobs SELECT (jsonb_populate_record(NULL::jobs, to_jsonb(j) || jsonb_build_object('id', $2::text, 'name', $3::text))).*
         FROM jobs j WHERE j.id = $1`,
      [job.id, twinId, HOSTILE_B],
    );
    const env = adminEnv(mothership(), dir());
    const [ambiguous, list, show] = await Promise.all([
      borg(['jobs', 'show', job.id.slice(0, 8)], { env }),
      borg(['jobs', 'list'], { env }),
      borg(['jobs', 'show', job.id], { env }),
    ]);
    expect(ambiguous.code).toBe(2);
    const line = expectOneLineError(ambiguous.stderr);
    expect(line).toContain(`job ${job.id} (evil-a)`);
    expect(line).toContain(`job ${twinId} (evil-b)`);
    for (const result of [ambiguous, list, show]) {
      // eslint-disable-next-line no-control-regex -- no ESC, BEL, C1 control or CR may come through
      expect(result.stdout + result.stderr).not.toMatch(/[\u001b\u0007\u0080-\u009f\r]/);
    }
    expect(list.stdout).toContain('evil-a');
    expect(show.stdout).toContain('evil-a');
  });
});
