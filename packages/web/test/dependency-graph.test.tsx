// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import type { Job, JobGraph } from '@borg/protocol';
import { QueryClient } from '@tanstack/react-query';
import { cleanup, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it } from 'vitest';

import { queryKeys } from '../src/lib/query-keys.ts';
import { assignLayers, layoutDag, orderLayers } from '../src/pages/jobs/dag-layout.ts';
import { DependencyGraph } from '../src/pages/jobs/dependency-graph.tsx';
import { jobChangedForDependencies } from '../src/pages/jobs/dependency-live.ts';
import { DependencyReason, SkipBanner } from '../src/pages/jobs/job-dependencies.tsx';
import { jobOf } from './fixtures.ts';

afterEach(cleanup);

const edge = (from: string, to: string) => ({ from, to });

describe('the layered layout of a dependency graph', () => {
  it('puts each job one layer after its deepest upstream', () => {
    // A diamond with a shortcut A → D and a tail: D sits after B and C however A also reaches it.
    const ids = ['D', 'C', 'B', 'A', 'E', 'lone'];
    const edges = [edge('A', 'B'), edge('A', 'C'), edge('B', 'D'), edge('C', 'D'), edge('A', 'D'), edge('D', 'E')];
    expect(Object.fromEntries(assignLayers(ids, edges))).toEqual({ A: 0, lone: 0, B: 1, C: 1, D: 2, E: 3 });
    // A longer way round wins over a direct edge.
    expect(Object.fromEntries(assignLayers(['x', 'y', 'z'], [edge('x', 'z'), edge('x', 'y'), edge('y', 'z')]))).toEqual(
      { x: 0, y: 1, z: 2 },
    );
  });

  it('survives what the mothership never sends: a cycle, an edge to a job not drawn', () => {
    const layers = assignLayers(['a', 'b', 'c'], [edge('a', 'b'), edge('b', 'c'), edge('c', 'b'), edge('a', 'gone')]);
    expect(layers.get('a')).toBe(0);
    expect(layers.get('b')).toBeGreaterThan(0);
    expect(layers.get('c')).toBeGreaterThan(0);
  });

  it('orders a layer by the mean row of its upstreams, which uncrosses edges', () => {
    // a → x and b → y, given as [y, x]: drawn in that order the two edges would cross.
    const ids = ['a', 'b', 'y', 'x'];
    const edges = [edge('a', 'x'), edge('b', 'y')];
    expect(orderLayers(ids, edges, assignLayers(ids, edges))).toEqual([
      ['a', 'b'],
      ['x', 'y'],
    ]);
    // A fan-in keeps its upstreams' order; ties keep the order given.
    const fan = ['r', 's', 't', 'm', 'n'];
    const fanEdges = [edge('r', 'n'), edge('s', 'n'), edge('t', 'm'), edge('t', 'n')];
    expect(orderLayers(fan, fanEdges, assignLayers(fan, fanEdges))).toEqual([
      ['r', 's', 't'],
      ['n', 'm'],
    ]);
  });

  it('places columns left to right, centres short ones, and draws edges side to side', () => {
    const size = { nodeWidth: 100, nodeHeight: 40, columnGap: 50, rowGap: 10 };
    const layout = layoutDag(
      ['A', 'B', 'C', 'D'],
      [edge('A', 'B'), edge('A', 'C'), edge('B', 'D'), edge('C', 'D')],
      size,
    );
    expect(layout.width).toBe(3 * 100 + 2 * 50);
    expect(layout.height).toBe(2 * 40 + 10);
    expect(layout.nodes.get('A')).toMatchObject({ layer: 0, x: 0, y: 25 });
    expect(layout.nodes.get('B')).toMatchObject({ layer: 1, order: 0, x: 150, y: 0 });
    expect(layout.nodes.get('C')).toMatchObject({ layer: 1, order: 1, x: 150, y: 50 });
    expect(layout.nodes.get('D')).toMatchObject({ layer: 2, x: 300, y: 25 });
    const ab = layout.edges.find((e) => e.from === 'A' && e.to === 'B')!;
    expect(ab.path).toMatch(/^M 100 45 C .* 150 20$/);
    expect(layoutDag([], [])).toMatchObject({ width: 0, height: 0, edges: [] });
  });
});

const DIAMOND: JobGraph = {
  nodes: [
    { id: 'a', name: 'prep', status: 'failed', array_size: 1 },
    { id: 'b', name: 'train', status: 'skipped', array_size: 4 },
    { id: 'c', name: 'alert', status: 'succeeded', array_size: 1 },
    { id: 'd', name: 'report', status: 'skipped', array_size: 1 },
  ],
  edges: [
    { from: 'a', to: 'b', condition: 'succeeded', state: 'unmet' },
    { from: 'a', to: 'c', condition: 'failed', state: 'met' },
    { from: 'b', to: 'd', condition: 'succeeded', state: 'unmet' },
    { from: 'c', to: 'd', condition: 'finished', state: 'met' },
  ],
  truncated: false,
};

describe('the dependency graph on the job page', () => {
  it('draws a linked box per job, the current one marked, and an arrow per dependency', () => {
    render(<DependencyGraph graph={DIAMOND} current="d" />);
    const graph = screen.getByRole('group', { name: 'Dependency graph: 4 jobs, 4 dependencies' });
    const links = within(graph).getAllByRole('link');
    expect(links.map((l) => l.getAttribute('href'))).toEqual(['/jobs/a', '/jobs/b', '/jobs/c', '/jobs/d']);
    expect(within(graph).getByRole('link', { current: 'page' })).toHaveTextContent('report');
    expect(within(graph).getByRole('link', { name: /train/ })).toHaveTextContent('×4');
    expect(screen.getAllByTestId('status').map((s) => s.dataset.status)).toEqual([
      'failed',
      'skipped',
      'succeeded',
      'skipped',
    ]);

    const edges = screen.getAllByTestId('dependency-edge');
    expect(edges.map((e) => e.dataset.state)).toEqual(['unmet', 'met', 'unmet', 'met']);
    // Unmet: dashed. The condition is written only where it is not `succeeded`.
    expect(edges[0]!.querySelector('path')).toHaveAttribute('stroke-dasharray', '6 4');
    expect(edges[1]!.querySelector('path')).not.toHaveAttribute('stroke-dasharray');
    expect(screen.getAllByTestId('dependency-condition').map((t) => t.textContent)).toEqual([
      'if failed',
      'if finished',
    ]);
    expect(edges[0]!.querySelector('title')).toHaveTextContent('train waits for prep to succeed: unmet');
  });
});

describe('a skipped job', () => {
  const skipped = jobOf({
    id: 'd',
    status: 'skipped',
    skip_reason: 'upstream job "train" (b) ended skipped; this job needed it to have succeeded',
    depends_on: [
      { job_id: 'b', name: 'train', condition: 'succeeded', state: 'unmet' },
      { job_id: 'c', name: 'alert', condition: 'finished', state: 'met' },
    ],
  });

  it('opens on why it did not run, linking the job to retry', () => {
    render(<SkipBanner job={skipped} />);
    expect(screen.getByRole('heading', { name: 'Skipped: this job did not run' })).toBeInTheDocument();
    expect(screen.getByTestId('skip-reason')).toHaveTextContent(/^upstream job "train" \(b\) ended skipped;/);
    expect(screen.getByRole('link', { name: 'train' })).toHaveAttribute('href', '/jobs/b');
  });

  it('says in the jobs list what a blocked job waits for and why a skipped one did not run', () => {
    const { container } = render(
      <>
        <DependencyReason job={skipped} />|
        <DependencyReason
          job={jobOf({
            status: 'blocked',
            depends_on: [
              { job_id: 'x', name: 'lint', condition: 'succeeded', state: 'met' },
              { job_id: 'y', name: 'build', condition: 'succeeded', state: 'waiting' },
            ],
          })}
        />
      </>,
    );
    expect(container).toHaveTextContent('train did not succeed|waits for build');
  });
});

describe('dependencies, live', () => {
  it('takes a shown job’s new status into the graph at once and fetches it again; other events cost nothing', () => {
    const queries = new QueryClient();
    queries.setQueryData(queryKeys.jobGraph('d'), DIAMOND);
    const stale = () => queries.getQueryState(queryKeys.jobGraph('d'))?.isInvalidated;

    jobChangedForDependencies(queries, jobOf({ id: 'c', status: 'succeeded' }));
    jobChangedForDependencies(queries, jobOf({ id: 'elsewhere', status: 'running' }));
    expect(stale()).toBe(false);

    jobChangedForDependencies(queries, jobOf({ id: 'a', status: 'queued' }));
    expect(queries.getQueryData<JobGraph>(queryKeys.jobGraph('d'))!.nodes[0]!.status).toBe('queued');
    expect(stale()).toBe(true);
  });

  it('fetches an open job’s attempts again when its dependencies released, skipped or blocked it', () => {
    const queries = new QueryClient();
    const hold = (status: Job['status']) =>
      queries.setQueryData(queryKeys.job('j'), { ...jobOf({ id: 'j', status }), tasks: [] });
    const stale = () => queries.getQueryState(queryKeys.job('j'))?.isInvalidated;
    const cases: Array<[Job['status'], Job['status'], boolean]> = [
      ['blocked', 'queued', true],
      ['blocked', 'skipped', true],
      ['failed', 'blocked', true],
      ['queued', 'running', false],
      ['blocked', 'blocked', false],
    ];
    for (const [held, now, refetched] of cases) {
      hold(held);
      jobChangedForDependencies(queries, jobOf({ id: 'j', status: now }));
      expect(stale(), `${held} → ${now}`).toBe(refetched);
    }
  });
});
