import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { SecretInfo } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { adminEnv, borg, CLI_TEST_TIMEOUT_MS, useTempDir } from './borg-cli.ts';

describe('borg secrets, and submit --secret', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  const mothership = useTestMothership();
  const dir = useTempDir();
  const env = () => adminEnv(mothership(), dir());

  it('sets a secret from stdin or a file, lists names only, and deletes it', async () => {
    const set = await borg(['secrets', 'set', 'deploy-token'], { env: env(), input: 'hunter2-value\n' });
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toBe('secret deploy-token created\n');
    const replaced = await borg(['secrets', 'set', 'deploy-token'], { env: env(), input: 'second-value\n' });
    expect(replaced.stdout).toBe('secret deploy-token replaced\n');

    const pem = join(dir(), 'key.pem');
    await writeFile(pem, '-----BEGIN KEY-----\nabc\n-----END KEY-----\n');
    expect((await borg(['secrets', 'set', 'tls-key', '--from-file', pem], { env: env() })).code).toBe(0);

    const listed = await borg(['secrets', 'list', '-o', 'json'], { env: env() });
    expect((JSON.parse(listed.stdout) as SecretInfo[]).map((s) => s.name)).toEqual(['deploy-token', 'tls-key']);
    const table = await borg(['secrets', 'list'], { env: env() });
    expect(table.stdout).not.toContain('second-value');
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+CREATED\s+UPDATED/);

    const empty = await borg(['secrets', 'set', 'blank'], { env: env(), input: '\n' });
    expect(empty.code).toBe(2);
    expect(empty.stderr).toContain('the value is empty');

    expect((await borg(['secrets', 'delete', 'tls-key'], { env: env() })).stdout).toBe('secret tls-key deleted\n');
    const again = await borg(['secrets', 'delete', 'tls-key'], { env: env() });
    expect(again.code).toBe(3);
    expect(again.stderr).toContain('secret tls-key does not exist');
  });

  it('submit --secret names the secret a variable comes from; an unknown one is refused', async () => {
    await borg(['secrets', 'set', 'api-key'], { env: env(), input: 'the-api-key-value\n' });
    const submitted = await borg(['submit', '--secret', 'API_KEY=api-key', '--label', 'pool=none', '--', 'true'], {
      env: env(),
    });
    expect(submitted.code, submitted.stderr).toBe(0);
    const job = await mothership().admin.getJob(submitted.stdout.trim());
    expect(job.secrets).toEqual({ API_KEY: 'api-key' });

    const unknown = await borg(['submit', '--secret', 'X=nope', '--', 'true'], { env: env() });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown secret nope');
  });
});
