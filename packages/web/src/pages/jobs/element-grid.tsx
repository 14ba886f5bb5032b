import type { ElementsChanged, Job, Runner, TaskStatus } from '@borg/protocol';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { memo, type PointerEvent, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';

import { PermittedButton } from '../../components/permitted-button.tsx';
import { api, errorMessage } from '../../lib/api.ts';
import { useIdentity } from '../../lib/identity.ts';
import { queryKeys } from '../../lib/query-keys.ts';
import { navigate } from '../../lib/router.ts';
import {
  CELL_COLOURS,
  drawGrid,
  elementAt,
  type GridLayout,
  layoutFor,
  LEGEND_ORDER,
  range,
} from './element-grid-drawing.ts';
import { ElementStates, openElementStates } from './element-states.ts';
import { mayChangeJobThrough } from './job-permissions.ts';

const FAILED: readonly TaskStatus[] = ['failed', 'timed_out', 'lost'];

/** What a selection can be given, and the route each takes (which says who may). */
const ACTIONS = [
  { action: 'retry', operation: 'retryElements', label: 'Retry selected' },
  { action: 'cancel', operation: 'cancelElements', label: 'Cancel selected' },
] as const;

/** A drag in progress: where it started, and the selection it adds to. */
interface Drag {
  from: number;
  base: ReadonlySet<number>;
  moved: boolean;
}

/**
 * An array job's elements as a grid of cells coloured by their latest attempt's status, one cell
 * per element, drawn on a canvas (10,000 elements are one element of the page). Hover names an
 * element; a click opens its task; a drag or a shift-click selects a range (ctrl/⌘-click one
 * cell) to retry or cancel together, one request for the whole selection.
 */
export const ElementGrid = memo(function ElementGrid({ job }: { job: Pick<Job, 'id' | 'array_size' | 'created_by'> }) {
  const queries = useQueryClient();
  const identity = useIdentity();
  const states = useMemo(() => new ElementStates(job.id, job.array_size), [job.id, job.array_size]);
  const elements = useQuery({ queryKey: queryKeys.jobElements(job.id), queryFn: () => api().listJobElements(job.id) });
  const runners = useQuery({ queryKey: queryKeys.runners(), queryFn: () => api().listRunners({ limit: 500 }) });
  const box = useRef<HTMLDivElement>(null);
  const canvas = useRef<HTMLCanvasElement>(null);
  const [width, setWidth] = useState(0);
  const [counts, setCounts] = useState<Partial<Record<TaskStatus, number>>>({});
  const [selected, setSelected] = useState<ReadonlySet<number>>(new Set());
  const [hovered, setHovered] = useState<number | null>(null);
  const [anchor, setAnchor] = useState<number | null>(null);
  const [drag, setDrag] = useState<Drag | null>(null);
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<{ text: string; error: boolean } | null>(null);
  const layout: GridLayout = useMemo(() => layoutFor(job.array_size, width || 600), [job.array_size, width]);

  // The states live outside React; what the page shows of them is redrawn once per frame at most,
  // from what the last render decided (layout, selection, hover).
  const view = useRef({ layout, selected, hovered });
  const schedule = useRef<() => void>(() => undefined);
  useEffect(() => {
    let frame = 0;
    let shown = '';
    const paint = () => {
      frame = 0;
      const { layout, selected, hovered } = view.current;
      if (canvas.current) drawGrid(canvas.current, layout, states, selected, hovered);
      const next = states.counts();
      const key = JSON.stringify(next);
      if (key !== shown) {
        shown = key;
        setCounts(next);
      }
    };
    schedule.current = () => {
      if (!frame) frame = requestAnimationFrame(paint);
    };
    const close = openElementStates(states);
    const unsubscribe = states.subscribe(() => schedule.current());
    schedule.current();
    return () => {
      close();
      unsubscribe();
      cancelAnimationFrame(frame);
      schedule.current = () => undefined;
    };
  }, [states]);
  useEffect(() => {
    if (elements.data) states.load(elements.data.items);
  }, [elements.data, states]);
  useLayoutEffect(() => {
    view.current = { layout, selected, hovered };
    schedule.current();
  }, [layout, selected, hovered]);
  useEffect(() => {
    const element = box.current;
    if (!element) return;
    setWidth(element.clientWidth);
    if (typeof ResizeObserver === 'undefined') return; // a test's DOM without layout
    const observer = new ResizeObserver(() => setWidth(element.clientWidth));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  const indexAt = (event: PointerEvent<HTMLCanvasElement>): number | null => {
    const rect = event.currentTarget.getBoundingClientRect();
    return elementAt(layout, job.array_size, event.clientX - rect.left, event.clientY - rect.top);
  };
  const onPointerDown = (event: PointerEvent<HTMLCanvasElement>) => {
    const index = indexAt(event);
    if (index === null || event.button !== 0) return;
    if (event.shiftKey && anchor !== null) {
      setSelected(new Set([...selected, ...range(anchor, index)]));
      return;
    }
    if (event.ctrlKey || event.metaKey) {
      const next = new Set(selected);
      if (next.has(index)) next.delete(index);
      else next.add(index);
      setSelected(next);
      setAnchor(index);
      return;
    }
    event.currentTarget.setPointerCapture?.(event.pointerId);
    setDrag({ from: index, base: new Set(), moved: false });
  };
  const onPointerMove = (event: PointerEvent<HTMLCanvasElement>) => {
    const index = indexAt(event);
    setHovered(index);
    if (!drag || index === null || (index === drag.from && !drag.moved)) return;
    if (!drag.moved) setDrag({ ...drag, moved: true });
    setSelected(new Set([...drag.base, ...range(drag.from, index)]));
  };
  const onPointerUp = (event: PointerEvent<HTMLCanvasElement>) => {
    if (!drag) return;
    setDrag(null);
    setAnchor(drag.from);
    const index = indexAt(event);
    if (drag.moved || index !== drag.from) return;
    // A click without a drag: the element's task.
    const element = states.get(index);
    if (element) navigate(`/jobs/${job.id}?task=${element.task_id}`);
  };

  const act = async (action: 'retry' | 'cancel') => {
    const indexes = [...selected].sort((a, b) => a - b);
    setBusy(true);
    setOutcome(null);
    try {
      const call: Promise<ElementsChanged> =
        action === 'retry' ? api().retryElements(job.id, { indexes }) : api().cancelElements(job.id, { indexes });
      const changed = await call;
      const verb = action === 'retry' ? 'Retried' : 'Cancelled';
      const skipped = changed.skipped > 0 ? `; ${changed.skipped} not in a state to ${action}` : '';
      setOutcome({ text: `${verb} ${plural(changed.indexes.length, 'element')}${skipped}.`, error: false });
      setSelected(new Set());
      queries.setQueryData<Job>(queryKeys.job(job.id), (old) => (old ? { ...old, ...changed.job } : old));
    } catch (error) {
      setOutcome({ text: errorMessage(error), error: true });
    } finally {
      setBusy(false);
    }
  };

  const names = new Map((runners.data?.items ?? []).map((r: Runner) => [r.id, r.name]));
  const hoveredElement = hovered === null ? undefined : states.get(hovered);
  const known = Object.values(counts).reduce((sum, n) => sum + n, 0);
  const button =
    'rounded border border-slate-300 bg-white px-2 py-0.5 text-sm hover:bg-slate-100 disabled:opacity-50 focus-visible:outline-2 focus-visible:outline-blue-600';
  return (
    <section data-testid="element-grid" className="space-y-2 rounded bg-white p-4 shadow" aria-label="Elements">
      <div className="flex flex-wrap items-baseline gap-x-4 gap-y-1">
        <h2 className="font-semibold">Elements</h2>
        <ul className="flex flex-wrap gap-x-3 gap-y-1 text-xs text-slate-600">
          {LEGEND_ORDER.filter((status) => counts[status]).map((status) => (
            <li key={status} data-testid="grid-count" data-status={status} className="flex items-center gap-1">
              <svg viewBox="0 0 1 1" className="h-2.5 w-2.5" aria-hidden="true">
                <rect width={1} height={1} fill={CELL_COLOURS[status]} />
              </svg>
              {counts[status]} {status.replaceAll('_', ' ')}
            </li>
          ))}
        </ul>
      </div>
      <div ref={box} className="relative">
        <canvas
          ref={canvas}
          data-testid="element-grid-canvas"
          data-columns={layout.columns}
          data-pitch={layout.pitch}
          width={Math.round(layout.width * devicePixelRatio)}
          height={Math.round(layout.height * devicePixelRatio)}
          className="block cursor-pointer touch-none select-none"
          style={{ width: layout.width, height: layout.height }}
          role="img"
          aria-label={`${job.array_size} elements: ${
            LEGEND_ORDER.filter((s) => counts[s])
              .map((s) => `${counts[s]} ${s.replaceAll('_', ' ')}`)
              .join(', ') || 'loading'
          }`}
          onPointerDown={onPointerDown}
          onPointerMove={onPointerMove}
          onPointerUp={onPointerUp}
          onPointerLeave={() => setHovered(null)}
        />
        {hovered !== null && (
          <div
            role="tooltip"
            data-testid="element-tooltip"
            className="pointer-events-none absolute z-10 whitespace-nowrap rounded bg-slate-900 px-2 py-1 text-xs text-white shadow"
            style={tooltipPosition(layout, hovered)}
          >
            {describe(hovered, hoveredElement, names)}
          </div>
        )}
      </div>
      <div className="flex flex-wrap items-center gap-2 text-sm">
        <span data-testid="grid-selection" className="text-slate-600">
          {selected.size > 0 ? `${plural(selected.size, 'element')} selected` : 'Drag or shift-click to select'}
        </span>
        <button type="button" className={button} onClick={() => setSelected(new Set(states.indexesWith(FAILED)))}>
          Select failed
        </button>
        <button type="button" className={button} onClick={() => setSelected(new Set(range(0, job.array_size - 1)))}>
          Select all
        </button>
        {selected.size > 0 && (
          <>
            <button type="button" className={button} onClick={() => setSelected(new Set())}>
              Clear
            </button>
            {ACTIONS.map(({ action, operation, label }) => (
              <PermittedButton
                key={action}
                permission={mayChangeJobThrough(identity, operation, job)}
                className={button}
                disabled={busy}
                onClick={() => void act(action)}
              >
                {label}
              </PermittedButton>
            ))}
          </>
        )}
        {known < job.array_size && elements.isFetching && <span className="text-slate-500">Loading…</span>}
      </div>
      {outcome && (
        <p role={outcome.error ? 'alert' : 'status'} className={outcome.error ? 'text-sm text-red-700' : 'text-sm'}>
          {outcome.text}
        </p>
      )}
      {elements.error && <p role="alert">{errorMessage(elements.error)}</p>}
    </section>
  );
});

/** `#42 failed · attempt 2 · runner gpu-1 · exit 3`. */
function describe(
  index: number,
  element: ReturnType<ElementStates['get']>,
  names: ReadonlyMap<string, string>,
): string {
  if (!element) return `#${index} (loading)`;
  const runner = element.runner_id ? (names.get(element.runner_id) ?? element.runner_id.slice(0, 8)) : '—';
  const exit = element.exit_code === null ? '—' : String(element.exit_code);
  const cancel = element.cancel_requested && !['cancelled'].includes(element.status) ? ' (cancel requested)' : '';
  return `#${index} ${element.status.replaceAll('_', ' ')}${cancel} · attempt ${element.attempt} · runner ${runner} · exit ${exit}`;
}

/** Just below the hovered cell, kept inside the grid's left half or right half. */
function tooltipPosition(layout: GridLayout, index: number): { left?: number; right?: number; top: number } {
  const column = index % layout.columns;
  const top = (Math.floor(index / layout.columns) + 1) * layout.pitch + 4;
  const x = column * layout.pitch;
  return x < layout.width / 2 ? { left: x, top } : { right: layout.width - x - layout.pitch, top };
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
