/**
 * A small layered drawing of a dependency graph, left to right: each job in the column of its
 * longest path from a job that waits for nothing (so every edge points rightwards), the jobs of
 * a column ordered by one barycentre pass (each by the mean row of the jobs it waits for) to cut
 * crossings, and each edge a curve from the right side of its upstream to the left side of its
 * downstream. Enough for the graphs the job page shows (GET /jobs/:id/graph, at most 200 jobs);
 * no general graph-drawing library needed.
 */

export interface LayoutSize {
  nodeWidth: number;
  nodeHeight: number;
  /** Space between columns (the edges run there) and between the rows of a column. */
  columnGap: number;
  rowGap: number;
}

export interface PlacedNode {
  id: string;
  layer: number;
  /** Position inside the layer, from the top. */
  order: number;
  x: number;
  y: number;
}

export interface PlacedEdge {
  from: string;
  to: string;
  /** An SVG path from the upstream's right side to the downstream's left side. */
  path: string;
  /** Where a label sits: the middle of the curve. */
  labelX: number;
  labelY: number;
}

export interface DagLayout {
  nodes: Map<string, PlacedNode>;
  edges: PlacedEdge[];
  width: number;
  height: number;
}

export const DEFAULT_SIZE: LayoutSize = { nodeWidth: 168, nodeHeight: 52, columnGap: 72, rowGap: 16 };

/**
 * Each node's layer: 0 for a node with no upstream in the graph, else one more than its
 * deepest upstream. Computed in topological order (Kahn); a node on a cycle (which the
 * mothership never makes) is put after the others rather than looping.
 */
export function assignLayers(
  ids: readonly string[],
  edges: ReadonlyArray<{ from: string; to: string }>,
): Map<string, number> {
  const known = new Set(ids);
  const inner = edges.filter((e) => known.has(e.from) && known.has(e.to) && e.from !== e.to);
  const waiting = new Map(ids.map((id) => [id, 0]));
  const downstream = new Map(ids.map((id) => [id, [] as string[]]));
  for (const edge of inner) {
    waiting.set(edge.to, waiting.get(edge.to)! + 1);
    downstream.get(edge.from)!.push(edge.to);
  }
  const layer = new Map<string, number>();
  const ready = ids.filter((id) => waiting.get(id) === 0);
  for (const id of ready) layer.set(id, 0);
  for (let i = 0; i < ready.length; i++) {
    const id = ready[i]!;
    for (const next of downstream.get(id)!) {
      layer.set(next, Math.max(layer.get(next) ?? 0, layer.get(id)! + 1));
      waiting.set(next, waiting.get(next)! - 1);
      if (waiting.get(next) === 0) ready.push(next);
    }
  }
  const placed = new Set(ready);
  const deepest = Math.max(-1, ...layer.values());
  for (const id of ids) if (!placed.has(id)) layer.set(id, deepest + 1);
  return layer;
}

/**
 * The nodes of each layer, top to bottom: layer 0 in the order given, each later layer sorted by
 * the mean order of its upstream nodes in earlier layers (a node without one keeps its place
 * among them by its own index), ties in the order given.
 */
export function orderLayers(
  ids: readonly string[],
  edges: ReadonlyArray<{ from: string; to: string }>,
  layers: ReadonlyMap<string, number>,
): string[][] {
  const count = layers.size === 0 ? 0 : Math.max(...layers.values()) + 1;
  const rows: string[][] = Array.from({ length: count }, () => []);
  for (const id of ids) rows[layers.get(id)!]!.push(id);
  const orderOf = new Map<string, number>();
  const upstreams = new Map<string, string[]>();
  for (const edge of edges) {
    if (!layers.has(edge.from) || !layers.has(edge.to)) continue;
    upstreams.set(edge.to, [...(upstreams.get(edge.to) ?? []), edge.from]);
  }
  rows.forEach((row, layer) => {
    if (layer > 0) {
      const weight = new Map(
        row.map((id, index) => {
          const placed = (upstreams.get(id) ?? []).filter((u) => orderOf.has(u));
          const mean = placed.length > 0 ? placed.reduce((sum, u) => sum + orderOf.get(u)!, 0) / placed.length : index;
          return [id, mean];
        }),
      );
      // Array.prototype.sort is stable: equal weights keep the order given.
      row.sort((a, b) => weight.get(a)! - weight.get(b)!);
    }
    row.forEach((id, order) => orderOf.set(id, order));
  });
  return rows;
}

/** The whole drawing: positions for every node (each column centred on the tallest) and a path for every edge. */
export function layoutDag(
  ids: readonly string[],
  edges: ReadonlyArray<{ from: string; to: string }>,
  size: LayoutSize = DEFAULT_SIZE,
): DagLayout {
  const rows = orderLayers(ids, edges, assignLayers(ids, edges));
  const rowStep = size.nodeHeight + size.rowGap;
  const columnStep = size.nodeWidth + size.columnGap;
  const tallest = Math.max(0, ...rows.map((row) => row.length));
  const nodes = new Map<string, PlacedNode>();
  rows.forEach((row, layer) => {
    const top = ((tallest - row.length) * rowStep) / 2;
    row.forEach((id, order) => nodes.set(id, { id, layer, order, x: layer * columnStep, y: top + order * rowStep }));
  });
  const placed: PlacedEdge[] = [];
  for (const edge of edges) {
    const from = nodes.get(edge.from);
    const to = nodes.get(edge.to);
    if (!from || !to) continue;
    const x1 = from.x + size.nodeWidth;
    const y1 = from.y + size.nodeHeight / 2;
    const x2 = to.x;
    const y2 = to.y + size.nodeHeight / 2;
    const bend = Math.max(24, (x2 - x1) / 2);
    placed.push({
      from: edge.from,
      to: edge.to,
      path: `M ${x1} ${y1} C ${x1 + bend} ${y1}, ${x2 - bend} ${y2}, ${x2} ${y2}`,
      labelX: (x1 + x2) / 2,
      labelY: (y1 + y2) / 2,
    });
  }
  return {
    nodes,
    edges: placed,
    width: rows.length > 0 ? rows.length * columnStep - size.columnGap : 0,
    height: tallest > 0 ? tallest * rowStep - size.rowGap : 0,
  };
}
