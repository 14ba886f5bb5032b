import { parseConstraint } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import {
  nearestFirst,
  type PlacementDemand,
  placementReasons,
  type PlacementRunner,
  verdictOf,
} from '../src/runners/placement-rules.ts';

const HOLDER = '3f2a91c0-0000-4000-8000-000000000001';
const OTHER_HOLDER = '77b0e412-0000-4000-8000-000000000002';

/** An idle, online, approved Linux runner with 4 CPUs, 8 GiB, two 40 GB GPUs and 4 slots. */
function runner(change: Partial<PlacementRunner> = {}): PlacementRunner {
  return {
    id: 'r-1',
    name: 'box-1',
    online: true,
    draining: false,
    approved: true,
    labels: { os: 'linux' },
    attributes: { os: 'linux', gpu_model: 'T4' },
    jobTypes: null,
    capacity: { cpu: 4, memory_mb: 8192 },
    usage: { cpu: 0, memory_mb: 0 },
    gpus: [
      { index: 0, memory_mb: 40_960, free_mb: 40_000, holder: null },
      { index: 1, memory_mb: 40_960, free_mb: 40_000, holder: null },
    ],
    slots: { max: 4, used: 0 },
    ...change,
  };
}

function demand(change: Partial<PlacementDemand> = {}): PlacementDemand {
  return { labels: {}, constraints: [], resources: {}, ...change };
}

const constraint = (text: string) => {
  const parsed = parseConstraint(text);
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
};

describe('placement reasons', () => {
  const cases: Array<{
    name: string;
    runner?: Partial<PlacementRunner>;
    demand?: Partial<PlacementDemand>;
    unmet?: number[];
    now: string[];
    ever: string[];
  }> = [
    { name: 'a fit', now: [], ever: [] },
    { name: 'offline', runner: { online: false }, now: ['offline'], ever: [] },
    { name: 'draining', runner: { draining: true }, now: ['draining'], ever: [] },
    { name: 'awaiting approval', runner: { approved: false }, now: ['awaiting approval'], ever: [] },
    {
      name: 'a job type it said it does not take',
      runner: { jobTypes: ['shell', 'binary'] },
      demand: { type: 'container' },
      now: ['takes no container jobs (only shell, binary)'],
      ever: ['takes no container jobs (only shell, binary)'],
    },
    {
      name: 'a runner that said nothing of types',
      runner: { jobTypes: null },
      demand: { type: 'container' },
      now: [],
      ever: [],
    },
    { name: 'a demand without a type', runner: { jobTypes: ['shell'] }, now: [], ever: [] },
    {
      name: 'a label of another value',
      runner: { labels: { os: 'darwin' } },
      demand: { labels: { os: 'linux' } },
      now: ['label os: wants linux, has darwin'],
      ever: ['label os: wants linux, has darwin'],
    },
    {
      name: 'a label it lacks',
      runner: { labels: {} },
      demand: { labels: { gpu: 'true' } },
      now: ['label gpu: wants true, has none'],
      ever: ['label gpu: wants true, has none'],
    },
    {
      name: 'an unmet constraint',
      demand: { constraints: [constraint('os != windows'), constraint('gpu_model in (A100, H100)')] },
      unmet: [1],
      now: ['constraint gpu_model in (A100, H100): has T4'],
      ever: ['constraint gpu_model in (A100, H100): has T4'],
    },
    {
      name: 'an unmet constraint on a missing attribute',
      demand: { constraints: [constraint('zone exists')] },
      unmet: [0],
      now: ['constraint zone exists: has none'],
      ever: ['constraint zone exists: has none'],
    },
    {
      name: 'CPU others hold',
      runner: { usage: { cpu: 2.5, memory_mb: 0 } },
      demand: { resources: { cpu: 2 } },
      now: ['cpu: needs 2, 1.5 free'],
      ever: [],
    },
    {
      name: 'more CPU than it has',
      demand: { resources: { cpu: 6 } },
      now: ['cpu: needs 6, 4 free'],
      ever: ['cpu: needs 6, 4 in all'],
    },
    {
      name: 'memory others hold',
      runner: { usage: { cpu: 0, memory_mb: 4096 } },
      demand: { resources: { memory_mb: 8192 } },
      now: ['memory: needs 8192 MB, 4096 free'],
      ever: [],
    },
    {
      name: 'no capacity reported',
      runner: { capacity: null, gpus: [] },
      demand: { resources: { cpu: 1, memory_mb: 512 } },
      now: ['cpu: needs 1, 0 free', 'memory: needs 512 MB, 0 free'],
      ever: ['cpu: needs 1, 0 in all', 'memory: needs 512 MB, 0 in all'],
    },
    {
      name: 'GPUs another task holds',
      runner: {
        gpus: [
          { index: 0, memory_mb: 40_960, free_mb: 40_000, holder: HOLDER },
          { index: 1, memory_mb: 40_960, free_mb: 40_000, holder: null },
        ],
      },
      demand: { resources: { gpus: 2 } },
      now: ['gpus: needs 2, 1 free (task 3f2a91c0 holds 0)'],
      ever: [],
    },
    {
      name: 'GPUs several tasks hold',
      runner: {
        gpus: [
          { index: 0, memory_mb: 1, free_mb: 1, holder: HOLDER },
          { index: 1, memory_mb: 1, free_mb: 1, holder: OTHER_HOLDER },
          { index: 2, memory_mb: 1, free_mb: 1, holder: HOLDER },
        ],
      },
      demand: { resources: { gpus: 1 } },
      now: ['gpus: needs 1, 0 free (task 3f2a91c0 holds 0, 2; task 77b0e412 holds 1)'],
      ever: [],
    },
    {
      name: 'more GPUs than it has',
      demand: { resources: { gpus: 4 } },
      now: ['gpus: needs 4, 2 free'],
      ever: ['gpus: needs 4, 2 in all'],
    },
    {
      name: 'GPU memory in use now',
      runner: {
        gpus: [
          { index: 0, memory_mb: 81_920, free_mb: 60_000, holder: null },
          { index: 1, memory_mb: 81_920, free_mb: 10_000, holder: null },
        ],
      },
      demand: { resources: { gpus: 2, gpu_memory_mb: 40_000 } },
      now: ['gpu memory: needs 40000 MB free on each of 2 GPUs, 1 has it'],
      ever: [],
    },
    {
      name: 'GPUs too small',
      demand: { resources: { gpus: 1, gpu_memory_mb: 80_000 } },
      now: ['gpu memory: needs 80000 MB free on 1 GPU, 0 have it'],
      ever: ['gpu memory: needs 80000 MB on 1 GPU, 0 have it'],
    },
    {
      name: 'slots full',
      runner: { slots: { max: 4, used: 4 } },
      now: ['slots full (4 of 4)'],
      ever: [],
    },
    {
      name: 'everything at once, in a fixed order',
      runner: {
        online: false,
        draining: true,
        approved: false,
        labels: {},
        capacity: { cpu: 1, memory_mb: 1024 },
        gpus: [],
        slots: { max: 1, used: 1 },
      },
      demand: {
        labels: { os: 'linux' },
        constraints: [constraint('memory_gb >= 64')],
        resources: { cpu: 2, memory_mb: 2048, gpus: 1 },
      },
      unmet: [0],
      now: [
        'offline',
        'draining',
        'awaiting approval',
        'label os: wants linux, has none',
        'constraint memory_gb >= 64: has none',
        'cpu: needs 2, 1 free',
        'memory: needs 2048 MB, 1024 free',
        'gpus: needs 1, 0 free',
        'slots full (1 of 1)',
      ],
      ever: [
        'label os: wants linux, has none',
        'constraint memory_gb >= 64: has none',
        'cpu: needs 2, 1 in all',
        'memory: needs 2048 MB, 1024 in all',
        'gpus: needs 1, 0 in all',
      ],
    },
  ];

  for (const c of cases) {
    it(c.name, () => {
      const r = runner(c.runner);
      const d = demand(c.demand);
      expect(placementReasons(r, d, c.unmet ?? [], 'now')).toEqual(c.now);
      expect(placementReasons(r, d, c.unmet ?? [], 'ever')).toEqual(c.ever);
    });
  }

  it('orders verdicts nearest first: eligible, then fewest reasons, then by name', () => {
    const verdicts = [
      verdictOf(runner({ id: 'a', name: 'zeta' }), ['offline', 'draining']),
      verdictOf(runner({ id: 'b', name: 'beta' }), ['offline']),
      verdictOf(runner({ id: 'c', name: 'gamma' }), []),
      verdictOf(runner({ id: 'd', name: 'alpha' }), ['slots full (1 of 1)']),
    ];
    expect(verdicts.sort(nearestFirst).map((v) => [v.runner_name, v.eligible])).toEqual([
      ['gamma', true],
      ['alpha', false],
      ['beta', false],
      ['zeta', false],
    ]);
  });
});
