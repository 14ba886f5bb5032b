import type { FigureResult } from './report.ts';

/** One benchmark: a name to pick it by (`npm run bench -- NAME`), and a run that returns its figure. */
export interface Figure {
  figure: number;
  name: string;
  run(): Promise<FigureResult>;
}

/** `x.xx×` for ratios, and whether it reaches the goal. */
export function ratioText(ratio: number, of: string): string {
  return `${ratio.toFixed(2)}× ${of}`;
}

/** BORG_BENCH_SCALE (default 1) shrinks every count for a quick trial run of the harness itself. */
export function scaled(count: number, minimum = 1): number {
  const factor = Number(process.env.BORG_BENCH_SCALE ?? 1);
  return Math.max(minimum, Math.round(count * (Number.isFinite(factor) && factor > 0 ? factor : 1)));
}
