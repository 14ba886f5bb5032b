import type { Job } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { printJobTable, ranOnText } from '../src/job-views.ts';
import { Output } from '../src/output.ts';

const jobWith = (outcome: Job['outcome']): Job =>
  ({ id: 'j', name: 'n', type: 'shell', status: 'succeeded', array_size: 1, priority: 0, outcome }) as Job;
const runner = (name: string) => ({ id: name, name, deleted: false });

describe('borg jobs list: RAN ON', () => {
  it('names the first runner and counts the others; "-" before any ran', () => {
    expect(ranOnText(jobWith({ runners: [], runner_count: 0, failure: null }))).toBe('-');
    expect(ranOnText(jobWith({ runners: [runner('gpu-1')], runner_count: 1, failure: null }))).toBe('gpu-1');
    expect(ranOnText(jobWith({ runners: [runner('gpu-1'), runner('gpu-2')], runner_count: 7, failure: null }))).toBe(
      'gpu-1 +6',
    );
  });

  it('cuts a long name so the table stays narrow', () => {
    const text = ranOnText(
      jobWith({ runners: [runner('a-very-long-runner-name-indeed')], runner_count: 1, failure: null }),
    );
    expect(text).toBe('a-very-long-runner-…');
  });

  it('is a column of the table, after STATUS', () => {
    let printed = '';
    const out = new Output('table', false, { write: (text: string) => (printed += text) });
    printJobTable(out, [
      {
        ...jobWith({ runners: [runner('gpu-1')], runner_count: 1, failure: null }),
        created_at: new Date(0).toISOString(),
      },
    ]);
    expect(printed.split('\n')[0]).toMatch(/^ID\s+NAME\s+TYPE\s+STATUS\s+RAN ON\s+ELEMENTS/);
    expect(printed.split('\n')[1]).toMatch(/succeeded\s+gpu-1\s+1\s/);
  });
});
