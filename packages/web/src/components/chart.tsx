import type { ReactNode } from 'react';

/**
 * Small hand-drawn SVG charts for the overview. Geometry goes into SVG attributes (never inline
 * style), so the page's CSP (`style-src 'self'`) has nothing to allow, and no chart library is
 * shipped for four charts.
 */

export interface Series {
  label: string;
  /** A stroke or fill colour (a fixed constant of this code, never data). */
  colour: string;
  values: Array<number | null>;
}

const W = 600;
const H = 120;

function niceMax(max: number): number {
  if (max <= 0) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 2.5, 5, 10]) if (max <= step * power) return step * power;
  return 10 * power;
}

/** A run of one point is drawn as a zero-length line, which a round cap turns into a dot. */
function lone(points: string[]): string {
  return points.length === 1 ? `${points[0]} ${points[0]}` : points.join(' ');
}

function isDot(points: string): boolean {
  const [a, b, more] = points.split(' ');
  return more === undefined && a === b;
}

/** The polyline points of one series; gaps (null) split it into several. */
export function linePaths(values: Array<number | null>, max: number): string[] {
  const paths: string[] = [];
  let current: string[] = [];
  const dx = values.length > 1 ? W / (values.length - 1) : 0;
  values.forEach((v, i) => {
    if (v === null) {
      if (current.length > 0) paths.push(lone(current));
      current = [];
      return;
    }
    current.push(`${(i * dx).toFixed(1)},${(H - (Math.min(v, max) / max) * H).toFixed(1)}`);
  });
  if (current.length > 0) paths.push(lone(current));
  return paths;
}

/** The words under a chart's two ends; default "<span> ago" and "now". */
export interface Axis {
  start: string;
  end: string;
}

function Frame({
  title,
  summary,
  max,
  format,
  series,
  span,
  axis,
  children,
}: {
  title: string;
  summary: string;
  max: number;
  format: (v: number) => string;
  series: Series[];
  span: string;
  axis?: Axis;
  children: ReactNode;
}) {
  return (
    <figure className="rounded bg-white p-4 shadow" data-testid="chart">
      <figcaption className="mb-2 flex flex-wrap items-baseline gap-x-3">
        <span className="font-medium">{title}</span>
        <span className="text-sm text-slate-600">{summary}</span>
      </figcaption>
      <div className="flex gap-2">
        <div className="flex w-10 shrink-0 flex-col justify-between text-right text-xs text-slate-500">
          <span>{format(max)}</span>
          <span>0</span>
        </div>
        <svg
          viewBox={`0 0 ${W} ${H}`}
          preserveAspectRatio="none"
          className="h-28 w-full min-w-0 border-b border-l border-slate-200"
          role="img"
          aria-label={`${title}: ${summary}`}
        >
          {[0.25, 0.5, 0.75].map((f) => (
            <line key={f} x1={0} x2={W} y1={H * f} y2={H * f} stroke="#e2e8f0" vectorEffect="non-scaling-stroke" />
          ))}
          {children}
        </svg>
      </div>
      <div className="ml-12 flex justify-between text-xs text-slate-500">
        <span>{axis?.start ?? `${span} ago`}</span>
        {series.length > 1 && (
          <span className="flex gap-3">
            {series.map((s) => (
              <span key={s.label} className="flex items-center gap-1">
                <svg viewBox="0 0 1 1" className="h-2 w-3" aria-hidden="true">
                  <rect width={1} height={1} fill={s.colour} />
                </svg>
                {s.label}
              </span>
            ))}
          </span>
        )}
        <span>{axis?.end ?? 'now'}</span>
      </div>
    </figure>
  );
}

/** Lines over time; `max` fixes the scale (utilisation: 1), otherwise it fits the data. */
export function LineChart(props: {
  title: string;
  summary: string;
  series: Series[];
  format?: (v: number) => string;
  max?: number;
  span: string;
  axis?: Axis;
}) {
  const format = props.format ?? ((v: number) => String(Math.round(v * 10) / 10));
  const all = props.series.flatMap((s) => s.values.filter((v): v is number => v !== null));
  const max = props.max ?? niceMax(Math.max(0, ...all));
  return (
    <Frame {...props} format={format} max={max}>
      {props.series.map((s) =>
        linePaths(s.values, max).map((points, i) => (
          <polyline
            key={`${s.label}-${i}`}
            points={points}
            fill="none"
            stroke={s.colour}
            strokeWidth={isDot(points) ? 6 : 2}
            strokeLinecap="round"
            vectorEffect="non-scaling-stroke"
          />
        )),
      )}
    </Frame>
  );
}

/** Stacked bars per bucket (tasks finished per minute, by outcome). */
export function BarChart(props: { title: string; summary: string; series: Series[]; span: string }) {
  const n = Math.max(0, ...props.series.map((s) => s.values.length));
  const totals = Array.from({ length: n }, (_, i) => props.series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const bar = n > 0 ? W / n : W;
  return (
    <Frame {...props} format={(v) => String(v)} max={max}>
      {Array.from({ length: n }, (_, i) => {
        let y = H;
        return props.series.map((s) => {
          const height = ((s.values[i] ?? 0) / max) * H;
          y -= height;
          return height > 0 ? (
            <rect
              key={`${s.label}-${i}`}
              x={i * bar + bar * 0.1}
              y={y}
              width={bar * 0.8}
              height={height}
              fill={s.colour}
            />
          ) : null;
        });
      })}
    </Frame>
  );
}
