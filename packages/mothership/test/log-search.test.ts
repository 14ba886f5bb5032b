import { beforeAll, describe, expect, it } from 'vitest';

import { rawRequest, type TestRunner, useTestMothership } from '../../../test/test-mothership.ts';

/**
 * GET /jobs/:id/logs/search (issue 17): every task and element of a job, finished or running,
 * matches streamed as NDJSON then a last {"done": true}; patterns that can backtrack
 * catastrophically are refused with a 400; a viewer may search, no token may not.
 */
describe('log search on the server', () => {
  const borg = useTestMothership();
  let runner: TestRunner;
  let jobId: string;
  let viewer: string;

  const search = async (query: string, token: string | null = borg().adminToken) => {
    const answer = await rawRequest(borg().url, {
      path: `/api/v1/jobs/${jobId}/logs/search?${query}`,
      token: token ?? undefined,
    });
    const lines =
      typeof answer.body === 'string'
        ? answer.body
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as Record<string, unknown>)
        : [answer.body as Record<string, unknown>];
    return { status: answer.status, lines };
  };

  beforeAll(async () => {
    runner = await borg().registerRunner({ max_concurrent_tasks: 1000, labels: { search: 'yes' } });
    viewer = (await borg().admin.createToken({ name: 'viewer', role: 'viewer' })).token;
    const job = await borg().admin.createJob({
      name: 'search',
      type: 'shell',
      command: 'true',
      array_size: 1000,
      labels: { search: 'yes' },
    });
    jobId = job.id;
    const tasks = [];
    while (tasks.length < 1000) tasks.push(...(await runner.client.nextTasks(runner.id, { wait: 0, max: 256 }))!.items);
    // Every element prints; element 737 prints the needle on stderr; one element has ended.
    for (let i = 0; i < tasks.length; i += 50) {
      await Promise.all(
        tasks.slice(i, i + 50).map(async (task) => {
          await runner.client.reportTaskStatus(task.id, { status: 'running' });
          const lines: Array<{ stream: 'stdout' | 'stderr'; message: string }> = [
            { stream: 'stdout', message: `element ${task.index} starting` },
            { stream: 'stdout', message: `element ${task.index} step 1 of 3` },
          ];
          if (task.index === 737) lines.push({ stream: 'stderr', message: 'RuntimeError: CUDA out of memory' });
          await runner.client.appendTaskLogs(task.id, { seq: 0, lines });
        }),
      );
    }
    const ended = tasks.find((t) => t.index === 3)!;
    await runner.client.reportTaskStatus(ended.id, { status: 'succeeded', exit_code: 0 });
  }, 120_000);

  it('finds the one element of 1,000 that printed the needle while the others still run', async () => {
    const { status, lines } = await search(`q=${encodeURIComponent('CUDA out of memory')}`);
    expect(status).toBe(200);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      index: 737,
      line: 2,
      stream: 'stderr',
      message: 'RuntimeError: CUDA out of memory',
    });
    expect(lines[1]).toEqual({ done: true, cut_short: false, reason: null, matches: 1 });
    // A finished element is searched too; the stream filter and the limit apply.
    expect((await search('q=element%203%20step')).lines[0]).toMatchObject({ index: 3, line: 1 });
    expect((await search('q=CUDA&stream=stdout')).lines).toEqual([
      { done: true, cut_short: false, reason: null, matches: 0 },
    ]);
    const limited = await search(`q=${encodeURIComponent('^element \\d+ starting$')}&limit=10`);
    expect(limited.lines).toHaveLength(11);
    expect(limited.lines.at(-1)).toMatchObject({ done: true, cut_short: true, reason: expect.stringMatching(/limit/) });
  });

  it('refuses patterns that can backtrack catastrophically, backreferences and bad ones with a 400 naming the problem', async () => {
    for (const [pattern, problem] of [
      ['(a+)+$', /nested quantifiers/],
      ['(x|xx)*y', /nested quantifiers/],
      ['(a)\\1', /backreferences/],
      ['[', /not a regular expression/],
      ['a'.repeat(300), /256|too_big|at most/i],
    ] as const) {
      const { status, lines } = await search(`q=${encodeURIComponent(pattern)}`);
      expect(status, pattern).toBe(400);
      expect(JSON.stringify(lines[0]), pattern).toMatch(problem);
    }
  });

  it('lets a viewer search, not a request without a token', async () => {
    expect((await search('q=CUDA', viewer)).status).toBe(200);
    expect((await search('q=CUDA', null)).status).toBe(401);
  });
});
