import { parseConstraint, type ParsedConstraint } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { registerRunner } from './register-runner.ts';

const parse = (text: string): ParsedConstraint => {
  const parsed = parseConstraint(text);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
};

/** Each operator with attributes that meet it and attributes that do not. */
const OPERATORS: Array<{ constraint: string; met: Record<string, string>; unmet: Record<string, string> }> = [
  { constraint: 'zone == eu-1', met: { zone: 'eu-1' }, unmet: { zone: 'eu-2' } },
  { constraint: 'tier != spot', met: { tier: 'reserved' }, unmet: { tier: 'spot' } },
  { constraint: 'gpu_model in (A100, H100)', met: { gpu_model: 'H100' }, unmet: { gpu_model: 'T4' } },
  { constraint: 'arch not in (arm64, ppc64le)', met: { arch: 'x64' }, unmet: { arch: 'arm64' } },
  { constraint: 'memory_gb < 64', met: { memory_gb: '32' }, unmet: { memory_gb: '64' } },
  { constraint: 'memory_gb <= 64', met: { memory_gb: '64' }, unmet: { memory_gb: '64.5' } },
  { constraint: 'cpu_count > 8', met: { cpu_count: '9' }, unmet: { cpu_count: '8' } },
  { constraint: 'cpu_count >= 8', met: { cpu_count: '8' }, unmet: { cpu_count: 'eight' } },
  { constraint: 'hostname ~ ^gpu-', met: { hostname: 'gpu-07' }, unmet: { hostname: 'cpu-gpu-07' } },
  { constraint: 'hostname !~ ^old-', met: { hostname: 'new-01' }, unmet: { hostname: 'old-01' } },
  { constraint: 'rack exists', met: { rack: 'r1' }, unmet: { row: 'r1' } },
  { constraint: 'quarantine !exists', met: {}, unmet: { quarantine: 'yes' } },
];

/** Attributes that, with an arch of x64 and a hostname holding "gpu-", meet every constraint of OPERATORS. */
const LABELS_MEETING_ALL = {
  zone: 'eu-1',
  tier: 'reserved',
  gpu_model: 'H100',
  memory_gb: '32',
  cpu_count: '9',
  rack: 'r1',
};

/** The operators a missing attribute meets: the negative ones. */
const MET_WHEN_MISSING = new Set(['!=', 'not in', '!~', '!exists']);

describe('constraint operators, evaluated by the database', () => {
  const borg = useTestMothership();

  const unmet = async (constraints: ParsedConstraint[], attributes: Record<string, string>) =>
    (
      await borg().db.query<{ unmet: number[] }>('SELECT borg_constraints_unmet($1::jsonb, $2::jsonb) AS unmet', [
        JSON.stringify(constraints),
        JSON.stringify(attributes),
      ])
    ).rows[0]!.unmet;

  for (const { constraint, met, unmet: notMet } of OPERATORS) {
    it(`${constraint}: met by ${JSON.stringify(met)}, not by ${JSON.stringify(notMet)}`, async () => {
      const parsed = parse(constraint);
      expect(await unmet([parsed], met)).toEqual([]);
      expect(await unmet([parsed], notMet)).toEqual([0]);
      expect(await unmet([parsed], {})).toEqual(MET_WHEN_MISSING.has(parsed.op) ? [] : [0]);
    });
  }

  it('answers the positions of every unmet constraint, and none for a job without constraints', async () => {
    const all = OPERATORS.map((o) => parse(o.constraint));
    const everyMet = { ...LABELS_MEETING_ALL, arch: 'x64', hostname: 'gpu-07' };
    expect(await unmet(all, everyMet)).toEqual([]);
    expect(await unmet(all, { ...everyMet, zone: 'eu-2', hostname: 'old-01' })).toEqual([0, 8, 9]);
    expect(await unmet([], everyMet)).toEqual([]);
  });

  it('meets nothing with a regular expression the database cannot compile, and does not fail', async () => {
    // JavaScript takes a named group; PostgreSQL's engine does not.
    expect(parseConstraint('hostname ~ (?<n>a)b').ok).toBe(true);
    expect(await unmet([{ key: 'hostname', op: '~', values: ['(?<n>a)b'] }], { hostname: 'ab' })).toEqual([0]);
    expect(await unmet([{ key: 'hostname', op: '!~', values: ['(?<n>a)b'] }], { hostname: 'ab' })).toEqual([0]);
  });
});

describe('a job with a constraint of every operator', () => {
  const borg = useTestMothership();

  it('is claimed only by the runner whose attributes meet them all; the other is told which it misses', async () => {
    const b = borg();
    const meets = await registerRunner(b, 'new-gpu-07', { labels: LABELS_MEETING_ALL });
    const misses = await registerRunner(b, 'old-gpu-03', { labels: LABELS_MEETING_ALL });
    // Both hostnames hold "gpu-"; only one starts with "old-".
    const constraints = OPERATORS.map((o) => o.constraint.replace('~ ^gpu-', '~ gpu-'));
    const job = await b.admin.createJob({
      name: 'every-operator',
      type: 'shell',
      command: 'true',
      constraints,
      unsatisfiable: 'reject',
    });
    expect(job.constraints).toEqual(constraints);

    expect((await misses.client.nextTasks(misses.id, { wait: 0, max: 1 }))?.items ?? []).toEqual([]);
    const placement = await b.admin.getTaskPlacement((await b.admin.getJob(job.id)).tasks[0]!.id);
    expect(placement.runners.find((r) => r.runner_name === 'old-gpu-03')?.reasons).toEqual([
      'constraint hostname !~ ^old-: has old-gpu-03',
    ]);
    expect(placement.runners.find((r) => r.runner_name === 'new-gpu-07')?.eligible).toBe(true);

    const claimed = (await meets.client.nextTasks(meets.id, { wait: 0, max: 1 }))?.items ?? [];
    expect(claimed.map((t) => t.job_id)).toEqual([job.id]);
  });
});
