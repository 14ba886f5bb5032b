import type { AuditEvent, AuditPage, BorgClient, Identity } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { listAuditEvents } from '../src/commands/audit.ts';
import { adminEnv, borg, CLI_TEST_TIMEOUT_MS, expectOneLineError, useTempDir } from './borg-cli.ts';

describe('borg whoami, borg audit, and who submitted a job', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  const mothership = useTestMothership();
  const dir = useTempDir();
  const env = () => adminEnv(mothership(), dir());
  const tokenOf = async (name: string, role: 'viewer' | 'submitter' | 'operator') =>
    (await mothership().admin.createToken({ name, role })).token;
  /** Audit entries are written just after the answer: wait until `count` match. */
  const auditHas = (query: { object: string }, count: number) =>
    expect
      .poll(async () => (await mothership().admin.listAudit({ limit: 500, ...query })).items.length, {
        timeout: 10_000,
      })
      .toBeGreaterThanOrEqual(count);

  it("whoami shows the address and the token's name, kind and role", async () => {
    const viewer = await tokenOf('wallboard', 'viewer');
    const [admin, asViewer, json] = await Promise.all([
      borg(['whoami'], { env: env() }),
      borg(['whoami'], { env: { ...env(), BORG_TOKEN: viewer } }),
      borg(['whoami', '-o', 'json'], { env: env() }),
    ]);
    expect(admin.code, admin.stderr).toBe(0);
    expect(admin.stdout).toMatch(new RegExp(`^address: +${mothership().url}$`, 'm'));
    expect(admin.stdout).toMatch(/^token from: +BORG_TOKEN$/m);
    expect(admin.stdout).toMatch(/^name: +admin \(BORG_ADMIN_TOKEN\)$/m);
    expect(admin.stdout).toMatch(/^kind: +user$/m);
    expect(admin.stdout).toMatch(/^role: +admin$/m);
    expect(asViewer.stdout).toMatch(/^name: +wallboard$/m);
    expect(asViewer.stdout).toMatch(/^role: +viewer$/m);
    const identity = JSON.parse(json.stdout) as Identity & { addr: string };
    expect(identity).toMatchObject({ addr: mothership().url, kind: 'user', role: 'admin', runner_id: null });

    const none = await borg(['whoami'], { env: { ...env(), BORG_TOKEN: undefined } });
    expect(none.code).toBe(4);
    expectOneLineError(none.stderr);
  });

  it('jobs show says who submitted the job', async () => {
    const ci = await tokenOf('ci-bot', 'submitter');
    const submitted = await borg(['submit', '--label', 'pool=nowhere', '--', 'true'], {
      env: { ...env(), BORG_TOKEN: ci },
    });
    expect(submitted.code, submitted.stderr).toBe(0);
    const shown = await borg(['jobs', 'show', submitted.stdout.trim()], { env: env() });
    expect(shown.stdout).toMatch(/^submitted by: +ci-bot$/m);
  });

  it('audit lists who did what, newest first, with filters; it needs an admin', async () => {
    const operator = await tokenOf('night-operator', 'operator');
    const viewer = await tokenOf('auditor-viewer', 'viewer');
    const job = await mothership().admin.createJob({ name: 'audited', command: 'true', labels: { pool: 'nowhere' } });
    // Refused (a viewer may not cancel), then done by the operator.
    expect((await borg(['jobs', 'cancel', job.id], { env: { ...env(), BORG_TOKEN: viewer } })).code).toBe(4);
    expect((await borg(['jobs', 'cancel', job.id], { env: { ...env(), BORG_TOKEN: operator } })).code).toBe(0);
    await auditHas({ object: job.id }, 3);

    const table = await borg(['audit', '--object', job.id], { env: env() });
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^TIME\s+ACTOR\s+ROLE\s+ACTION\s+OBJECT\s+FROM\s+STATUS$/);
    const rows = lines.slice(1).map((line) => line.split(/ {2,}/));
    expect(rows.map((r) => [r[1], r[2], r[3], r[4], r[6]])).toEqual([
      ['night-operator', 'operator', 'job.cancel', `job ${job.id}`, 'ok 200'],
      ['auditor-viewer', 'viewer', 'job.cancel', `job ${job.id}`, 'refused 403'],
      ['admin (BORG_ADMIN_TOKEN)', 'admin', 'job.submit', `job ${job.id}`, 'ok 201'],
    ]);
    expect(rows[0]![0]).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    expect(rows[0]![5]).toMatch(/127\.0\.0\.1/);

    const [byAction, refused] = await Promise.all([
      borg(['audit', '--object', job.id, '--action', 'job.submit', '-o', 'json'], { env: env() }),
      borg(['audit', '--actor', (await whoamiOf(viewer)).token_id, '--since', '1h', '-o', 'json'], { env: env() }),
    ]);
    expect((JSON.parse(byAction.stdout) as AuditEvent[]).map((e) => e.action)).toEqual(['job.submit']);
    expect((JSON.parse(refused.stdout) as AuditEvent[]).map((e) => [e.action, e.outcome])).toEqual([
      ['job.cancel', 'refused'],
    ]);

    const limited = await borg(['audit', '--limit', '2', '-o', 'json'], { env: env() });
    expect(JSON.parse(limited.stdout)).toHaveLength(2);
    const long = await borg(['audit', '--before', '2000-01-01'], { env: env() });
    expect(long.stdout).toBe('');
    expect(long.stderr).toBe('no audit entries\n');

    const denied = await borg(['audit'], { env: { ...env(), BORG_TOKEN: operator } });
    expect(denied.code).toBe(4);
    expect(expectOneLineError(denied.stderr)).toContain('needs the admin role; this token is an operator');
  });

  async function whoamiOf(token: string): Promise<Identity> {
    return mothership().client(token).whoami();
  }

  it('audit follows the cursor page after page until --limit', async () => {
    const job = await mothership().admin.createJob({ name: 'paged', command: 'true', labels: { pool: 'nowhere' } });
    for (const verb of ['pauseJob', 'resumeJob', 'pauseJob', 'resumeJob'] as const) {
      await mothership().admin[verb](job.id);
    }
    await auditHas({ object: job.id }, 5);
    // The real client, with each request and answer noted on the way.
    const admin = mothership().admin;
    const asked: Array<{ cursor?: string; limit?: number | string }> = [];
    const answered: AuditPage[] = [];
    const client: Pick<BorgClient, 'listAudit'> = {
      listAudit: async (query, options) => {
        asked.push({ cursor: query?.cursor, limit: query?.limit });
        const page = await admin.listAudit(query, options);
        answered.push(page);
        return page;
      },
    };

    // Pages of two: each request starts from the cursor the one before gave, until there is none.
    const all = await listAuditEvents(client, { object: job.id }, 100, 2);
    expect(asked.length).toBeGreaterThanOrEqual(3);
    expect(asked[0]).toEqual({ cursor: undefined, limit: 2 });
    asked.slice(1).forEach((request, i) => expect(request).toEqual({ cursor: answered[i]!.next_cursor, limit: 2 }));
    expect(answered.at(-1)!.next_cursor).toBeNull();
    expect(all).toEqual(answered.flatMap((page) => page.items));

    // --limit 3: the second request asks only for what is still missing, and no third is made.
    asked.length = 0;
    answered.length = 0;
    const capped = await listAuditEvents(client, { object: job.id }, 3, 2);
    expect(asked.map((a) => a.limit)).toEqual([2, 1]);
    expect(capped).toHaveLength(3);
  });

  it('audit prints names from tokens terminal-safe, and refuses flags that make no sense', async () => {
    const hostile = await tokenOf('evil\u001b]0;pwned\u0007\u001b[2Jname', 'submitter');
    const job = await mothership()
      .client(hostile)
      .createJob({ name: 'x', command: 'true', labels: { pool: 'n' } });
    await auditHas({ object: job.id }, 1);
    const shown = await borg(['audit', '--object', job.id], { env: env() });
    expect(shown.stdout).toContain('evilname');
    expect(shown.stdout).not.toContain('\u001b');
    expect(shown.stdout).not.toContain('\u0007');

    const [both, badTime, badAction] = await Promise.all([
      borg(['audit', '--since', '1h', '--after', '2026-01-01'], { env: env() }),
      borg(['audit', '--before', 'yesterday'], { env: env() }),
      borg(['audit', '--action', 'job.explode'], { env: env() }),
    ]);
    expect(both.code).toBe(2);
    expect(expectOneLineError(both.stderr)).toContain('--since and --after');
    expect(badTime.code).toBe(2);
    expect(expectOneLineError(badTime.stderr)).toContain('--before "yesterday" is not an ISO-8601 time');
    expect(badAction.code).toBe(2);
    expect(badAction.stderr).toContain('job.explode');
  });
});
