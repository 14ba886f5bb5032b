import { randomBytes } from 'node:crypto';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { finishedJob, type InProcessSolder, startSolder } from '../../../test/test-solder.ts';

/** A secret from the API to a real task and back: the task gets the value; no one else sees it. */
describe('a secret, end to end', () => {
  const borg = useTestMothership();
  let solder: InProcessSolder;
  const value = `e2e-${randomBytes(16).toString('hex')}`;

  beforeAll(async () => {
    solder = await startSolder(borg(), { labels: 'pool=secrets' });
  });
  afterAll(async () => {
    await solder?.stop({ cancelRunning: true });
  });

  const finished = (jobId: string) => finishedJob(borg(), jobId, 20_000);

  it('reaches the task as its variable, and every stored line of its output is masked', async () => {
    await borg().admin.putSecret('e2e-token', { value });
    const job = await borg().admin.createJob({
      name: 'prints its secret',
      command: [
        'echo "plain: $API_TOKEN"',
        'printf "%s" "$API_TOKEN" | base64',
        'printf "%s" "$API_TOKEN" | od -An -tx1 | tr -d " \\n"; echo',
        'echo "half: ${API_TOKEN%????????????????}"; echo "${API_TOKEN#????????????????????}"',
        'echo "length: ${#API_TOKEN}" >&2',
      ].join('\n'),
      labels: { pool: 'secrets' },
      secrets: { API_TOKEN: 'e2e-token' },
    });
    const done = await finished(job.id);
    expect(done.status).toBe('succeeded');
    const lines = (await borg().admin.getTaskLogs(done.tasks[0]!.id)).items.map((l) => l.message);
    expect(lines).toContain('plain: ***');
    expect(lines).toContain(`length: ${value.length}`);
    const everything = lines.join('\n');
    expect(everything).not.toContain(value);
    expect(everything).not.toContain(Buffer.from(value).toString('base64'));
    expect(everything).not.toContain(Buffer.from(value).toString('hex'));
    // Printed in two halves on two lines, it is still found and masked.
    expect(everything).not.toContain(value.slice(0, 12));
    expect(everything).not.toContain(value.slice(-12));
  });

  it('deleted before its task runs, keeps the task from starting: it fails, naming the secret', async () => {
    await borg().admin.putSecret('gone-soon', { value });
    await borg().admin.drainRunner(solder.agent.id);
    const job = await borg().admin.createJob({
      name: 'needs a deleted secret',
      command: 'echo started',
      labels: { pool: 'secrets' },
      secrets: { S: 'gone-soon' },
    });
    await borg().admin.deleteSecret('gone-soon');
    await borg().admin.resumeRunner(solder.agent.id);
    const done = await finished(job.id);
    expect(done.status).toBe('failed');
    expect(done.tasks[0]!.error).toContain('gone-soon');
    const lines = (await borg().admin.getTaskLogs(done.tasks[0]!.id)).items.map((l) => l.message);
    expect(lines).not.toContain('started');
  });
});
