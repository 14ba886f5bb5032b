import type { GraphEdge, GraphNode, JobGraph } from '@borg/protocol';
import { useMemo } from 'react';

import { Link } from '../../components/link.tsx';
import { StatusBadge } from '../../components/status-badge.tsx';
import { useTopic } from '../../lib/live.ts';
import { DEFAULT_SIZE, layoutDag } from './dag-layout.ts';

/** Node outlines by job status (whole class names, so Tailwind keeps them). */
const OUTLINE: Record<string, string> = {
  succeeded: 'border-green-500',
  failed: 'border-red-500',
  running: 'border-blue-500',
  queued: 'border-slate-400',
  blocked: 'border-violet-400',
  skipped: 'border-amber-400',
  cancelled: 'border-zinc-400',
  paused: 'border-amber-500',
};

/** How an edge is drawn by the state of its dependency: unmet ones dashed and red. */
const EDGE_STYLE: Record<GraphEdge['state'], { stroke: string; dash?: string }> = {
  waiting: { stroke: '#94a3b8' },
  met: { stroke: '#16a34a' },
  unmet: { stroke: '#dc2626', dash: '6 4' },
};

/** More jobs than this and the page listens to every job's events instead of one topic per job. */
const MAX_NODE_TOPICS = 50;

/** What a dependency needs of its upstream, in words. */
export const CONDITION_WORDS: Record<GraphEdge['condition'], string> = {
  succeeded: 'to succeed',
  failed: 'to fail',
  finished: 'to finish',
};

/**
 * The jobs upstream and downstream of `current` as a layered graph (dag-layout.ts): a box per job
 * with its name and status, linking to it; an arrow per dependency, labelled with its condition
 * when it is not `succeeded`, dashed and red once it cannot be met. The current job is outlined.
 */
export function DependencyGraph({ graph, current }: { graph: JobGraph; current: string }) {
  const layout = useMemo(
    () =>
      layoutDag(
        graph.nodes.map((n) => n.id),
        graph.edges,
      ),
    [graph],
  );
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const { nodeWidth, nodeHeight } = DEFAULT_SIZE;
  const edges = new Map(graph.edges.map((e) => [`${e.from}>${e.to}`, e]));
  return (
    <div className="max-h-[32rem] overflow-auto rounded bg-white p-4 shadow">
      <GraphTopics nodes={graph.nodes} />
      <div
        role="group"
        aria-label={`Dependency graph: ${graph.nodes.length} jobs, ${graph.edges.length} dependencies`}
        data-testid="dependency-graph"
        className="relative"
        style={{ width: layout.width, height: layout.height }}
      >
        <svg width={layout.width} height={layout.height} className="absolute left-0 top-0 overflow-visible">
          <defs>
            {Object.entries(EDGE_STYLE).map(([state, style]) => (
              <marker
                key={state}
                id={`dependency-arrow-${state}`}
                viewBox="0 0 10 10"
                refX="9"
                refY="5"
                markerWidth="7"
                markerHeight="7"
                orient="auto-start-reverse"
              >
                <path d="M 0 0 L 10 5 L 0 10 z" fill={style.stroke} />
              </marker>
            ))}
          </defs>
          {layout.edges.map((placed) => {
            const edge = edges.get(`${placed.from}>${placed.to}`)!;
            const style = EDGE_STYLE[edge.state];
            const words = `${byId.get(edge.to)?.name} waits for ${byId.get(edge.from)?.name} ${CONDITION_WORDS[edge.condition]}: ${edge.state}`;
            return (
              <g
                key={`${edge.from}-${edge.to}`}
                data-testid="dependency-edge"
                data-from={edge.from}
                data-to={edge.to}
                data-state={edge.state}
              >
                <title>{words}</title>
                <path
                  d={placed.path}
                  fill="none"
                  stroke={style.stroke}
                  strokeWidth={1.5}
                  strokeDasharray={style.dash}
                  markerEnd={`url(#dependency-arrow-${edge.state})`}
                />
                {edge.condition !== 'succeeded' && (
                  <text
                    x={placed.labelX}
                    y={placed.labelY - 4}
                    textAnchor="middle"
                    className="fill-slate-600 text-[11px]"
                    data-testid="dependency-condition"
                  >
                    if {edge.condition}
                  </text>
                )}
              </g>
            );
          })}
        </svg>
        {graph.nodes.map((node) => {
          const at = layout.nodes.get(node.id)!;
          const isCurrent = node.id === current;
          return (
            <div
              key={node.id}
              className="absolute"
              style={{ left: at.x, top: at.y, width: nodeWidth, height: nodeHeight }}
              data-testid="graph-node"
              data-job-id={node.id}
              data-current={isCurrent || undefined}
            >
              <Link
                to={`/jobs/${node.id}`}
                current={isCurrent}
                className={`flex h-full flex-col justify-center gap-1 rounded border-2 bg-white px-2 text-sm hover:bg-slate-50 focus-visible:outline-2 focus-visible:outline-blue-600 ${OUTLINE[node.status] ?? 'border-slate-300'} ${isCurrent ? 'ring-2 ring-blue-500 ring-offset-2' : ''}`}
              >
                <span className="truncate font-medium text-slate-900" title={node.name}>
                  {node.name}
                  {node.array_size > 1 && <span className="ml-1 text-xs text-slate-500">×{node.array_size}</span>}
                </span>
                <span>
                  <StatusBadge status={node.status} />
                </span>
              </Link>
            </div>
          );
        })}
      </div>
    </div>
  );
}

/** Keeps the graph's jobs' events coming (live.ts refetches the graph when one changes status). */
function GraphTopics({ nodes }: { nodes: readonly GraphNode[] }) {
  if (nodes.length > MAX_NODE_TOPICS) return <Topic topic="jobs" />;
  return (
    <>
      {nodes.map((n) => (
        <Topic key={n.id} topic={`job:${n.id}`} />
      ))}
    </>
  );
}

function Topic({ topic }: { topic: string }) {
  useTopic(topic);
  return null;
}
