import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { machineDescription } from './proc.ts';

/** What one benchmark reports: Borg's figure, the reference's from the same run, and the verdict. */
export interface FigureResult {
  /** The figure's number in the issue's table (1-9). */
  figure: number;
  name: string;
  title: string;
  borg: string;
  reference: string;
  /** Borg against the reference, stated so that ≥ 1 is "as good" when the goal is a ratio. */
  ratio: string;
  goal: string;
  /** null where the figure has no pass/fail (reported only). */
  met: boolean | null;
  /** How this run differs from the issue's sizes, if it does. */
  scale: string;
  details: Record<string, unknown>;
}

export interface RecordedResult extends FigureResult {
  seconds: number;
  finished_at: string;
  load_before: string;
  error?: string;
}

export const RESULTS_DIR = new URL('../results/', import.meta.url).pathname;

export async function saveResult(result: RecordedResult): Promise<void> {
  await mkdir(RESULTS_DIR, { recursive: true });
  await writeFile(join(RESULTS_DIR, `${result.name}.json`), JSON.stringify(result, null, 2) + '\n');
}

export async function loadResult(name: string): Promise<RecordedResult | null> {
  const text = await readFile(join(RESULTS_DIR, `${name}.json`), 'utf8').catch(() => null);
  return text ? (JSON.parse(text) as RecordedResult) : null;
}

const verdict = (r: RecordedResult) => (r.error ? 'error' : r.met === null ? 'reported' : r.met ? 'met' : 'not met');
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** The markdown table of the latest result of every figure (docs/performance.md takes it as it is). */
export async function markdownTable(results: RecordedResult[]): Promise<string> {
  const machine = await machineDescription();
  const lines = [
    `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB RAM, load average ${machine.load} at the end; ` +
      `PostgreSQL on loopback. Date: ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.`,
    '',
    '| # | figure | Borg | reference (same run) | ratio | goal | goal met | sizes in this run | time |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    lines.push(
      `| ${r.figure} | ${cell(r.title)} | ${cell(r.error ? `failed: ${r.error}` : r.borg)} | ${cell(r.reference)} | ${cell(
        r.ratio,
      )} | ${cell(r.goal)} | ${verdict(r)} | ${cell(r.scale)} | ${Math.round(r.seconds)} s (${r.finished_at.slice(
        0,
        16,
      )}, load ${r.load_before.split(' ')[0]}) |`,
    );
  }
  return lines.join('\n') + '\n';
}

/** A plain-text table for the terminal. */
export function consoleTable(results: RecordedResult[]): string {
  const rows = results.map((r) => [
    String(r.figure),
    r.title,
    r.error ? `FAILED: ${r.error}` : r.borg,
    r.reference,
    r.ratio,
    verdict(r),
    `${Math.round(r.seconds)} s`,
  ]);
  const header = ['#', 'figure', 'Borg', 'reference', 'ratio', 'goal', 'time'];
  const widths = header.map((h, i) => Math.min(60, Math.max(h.length, ...rows.map((row) => row[i]!.length))));
  const fmt = (row: string[]) => row.map((c, i) => c.slice(0, 60).padEnd(widths[i]!)).join('  ');
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(fmt)].join('\n');
}
