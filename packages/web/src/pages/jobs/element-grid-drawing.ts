import { TASK_STATUSES, type TaskStatus } from '@borg/protocol';

import type { ElementStates } from './element-states.ts';

/** Each status's cell colour (the legend shows the same), grouped by hue: blues live, reds failed. */
export const CELL_COLOURS: Record<TaskStatus, string> = {
  blocked: '#e2e8f0',
  pending: '#cbd5e1',
  assigned: '#7dd3fc',
  running: '#2563eb',
  succeeded: '#16a34a',
  failed: '#dc2626',
  timed_out: '#9f1239',
  lost: '#f97316',
  cancelled: '#71717a',
  skipped: '#a1a1aa',
};

/** An element whose state has not arrived yet. */
const UNKNOWN_COLOUR = '#f1f5f9';
const OUTLINE = '#0f172a';

/** The legend's order: the protocol's, where elements are in their life, then how they ended. */
export const LEGEND_ORDER: readonly TaskStatus[] = TASK_STATUSES;

/** Cells and the 1 px gap between them, in CSS pixels: smaller for larger arrays, so 10,000 fit a screen. */
export function pitchFor(size: number): number {
  if (size <= 200) return 18;
  if (size <= 1000) return 12;
  if (size <= 4000) return 9;
  return 7;
}

export interface GridLayout {
  columns: number;
  rows: number;
  /** Cell plus gap, in CSS pixels. */
  pitch: number;
  width: number;
  height: number;
}

export function layoutFor(size: number, availableWidth: number): GridLayout {
  const pitch = pitchFor(size);
  const columns = Math.max(1, Math.min(size, Math.floor(availableWidth / pitch)));
  const rows = Math.ceil(size / columns);
  return { columns, rows, pitch, width: columns * pitch, height: rows * pitch };
}

/** The element under a point of the canvas (CSS pixels from its corner); null between or beyond cells. */
export function elementAt(layout: GridLayout, size: number, x: number, y: number): number | null {
  const column = Math.floor(x / layout.pitch);
  const row = Math.floor(y / layout.pitch);
  if (x < 0 || y < 0 || column >= layout.columns || row >= layout.rows) return null;
  const index = row * layout.columns + column;
  return index < size ? index : null;
}

/**
 * Paints every cell: its status's colour, selected ones outlined and the rest dimmed while
 * there is a selection, the hovered one outlined. A full pass over 10,000 cells is a few
 * thousand fillRects, cheap enough to repeat once per animation frame.
 */
export function drawGrid(
  canvas: HTMLCanvasElement,
  layout: GridLayout,
  states: ElementStates,
  selected: ReadonlySet<number>,
  hovered: number | null,
): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const scale = canvas.width / layout.width;
  ctx.setTransform(scale, 0, 0, scale, 0, 0);
  ctx.clearRect(0, 0, layout.width, layout.height);
  const cell = layout.pitch - 1;
  const dimmed = selected.size > 0;
  for (let index = 0; index < states.size; index++) {
    const x = (index % layout.columns) * layout.pitch;
    const y = Math.floor(index / layout.columns) * layout.pitch;
    const element = states.get(index);
    ctx.globalAlpha = dimmed && !selected.has(index) ? 0.3 : 1;
    ctx.fillStyle = element ? CELL_COLOURS[element.status] : UNKNOWN_COLOUR;
    ctx.fillRect(x, y, cell, cell);
  }
  ctx.globalAlpha = 1;
  ctx.strokeStyle = OUTLINE;
  ctx.lineWidth = 1;
  for (const index of selected) outline(ctx, layout, index);
  if (hovered !== null) {
    ctx.lineWidth = 2;
    outline(ctx, layout, hovered);
  }
}

function outline(ctx: CanvasRenderingContext2D, layout: GridLayout, index: number): void {
  const x = (index % layout.columns) * layout.pitch;
  const y = Math.floor(index / layout.columns) * layout.pitch;
  const cell = layout.pitch - 1;
  ctx.strokeRect(x + 0.5, y + 0.5, cell - 1, cell - 1);
}

/** The indexes from a to b, both included, in either order. */
export function range(a: number, b: number): number[] {
  const [low, high] = a <= b ? [a, b] : [b, a];
  return Array.from({ length: high - low + 1 }, (_, i) => low + i);
}
