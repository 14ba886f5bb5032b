import { usageError } from './cli-error.ts';
import { terminalSafe } from './terminal-safe.ts';

export type OutputFormat = 'table' | 'json';

interface Stream {
  write(text: string): unknown;
  isTTY?: boolean;
}

const SGR_CODES = {
  bold: [1, 22],
  dim: [2, 22],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  magenta: [35, 39],
  cyan: [36, 39],
} as const;
export type Paint = keyof typeof SGR_CODES;

const STATUS_PAINT: Record<string, Paint> = {
  succeeded: 'green',
  online: 'green',
  failed: 'red',
  lost: 'red',
  timed_out: 'red',
  offline: 'red',
  cancelled: 'yellow',
  paused: 'yellow',
  draining: 'yellow',
  'awaiting approval': 'yellow',
  running: 'cyan',
  busy: 'cyan',
  assigned: 'blue',
  queued: 'dim',
  pending: 'dim',
  // Waiting for the jobs it depends on; ended without running because one of them did not end as needed.
  blocked: 'magenta',
  skipped: 'yellow',
};

/**
 * How a command prints: readable tables for people, JSON for scripts (`-o json`), colour only
 * when the stream is a terminal and nobody said no (`--no-color`, `NO_COLOR`, `TERM=dumb`).
 * Results go to stdout; progress, notes and warnings to stderr, so `ID=$(borg submit …)` and
 * `borg jobs list -o json | jq` get nothing but the result.
 */
export class Output {
  readonly colorOut: boolean;
  readonly colorErr: boolean;

  constructor(
    readonly format: OutputFormat,
    wantColor: boolean,
    readonly stdout: Stream = process.stdout,
    readonly stderr: Stream = process.stderr,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    const allowed = wantColor && !env.NO_COLOR && env.TERM !== 'dumb';
    this.colorOut = allowed && Boolean(stdout.isTTY);
    this.colorErr = allowed && Boolean(stderr.isTTY);
  }

  static from(options: { output?: string; color?: boolean }): Output {
    const format = options.output ?? 'table';
    if (format !== 'table' && format !== 'json') {
      throw usageError(`unknown output format "${format}"`, 'use -o table or -o json');
    }
    return new Output(format, options.color !== false);
  }

  get json(): boolean {
    return this.format === 'json';
  }

  /** Whether stdout is a terminal (log lines are made terminal-safe only there). */
  get stdoutIsTerminal(): boolean {
    return Boolean(this.stdout.isTTY);
  }

  get stderrIsTerminal(): boolean {
    return Boolean(this.stderr.isTTY);
  }

  /**
   * A line (or lines) of a result. What it prints may hold text from the mothership (names,
   * paths, messages), so it goes out terminal-safe, as log lines do: colours only where this
   * output paints, no other escape sequence or control character.
   */
  print(text = ''): void {
    this.stdout.write(safeLines(text, this.colorOut) + '\n');
  }

  /** A note for the person at the terminal (stderr): never part of a command's result. Terminal-safe too. */
  note(text: string): void {
    this.stderr.write(safeLines(text, this.colorErr) + '\n');
  }

  printJson(value: unknown): void {
    this.stdout.write(JSON.stringify(value, null, 2) + '\n');
  }

  /** One compact JSON object per line (NDJSON), for streams: logs, watch snapshots. */
  printJsonLine(value: unknown): void {
    this.stdout.write(JSON.stringify(value) + '\n');
  }

  paint(style: Paint, text: string, stream: 'out' | 'err' = 'out'): string {
    if (!(stream === 'out' ? this.colorOut : this.colorErr)) return text;
    const [on, off] = SGR_CODES[style];
    return `\u001b[${on}m${text}\u001b[${off}m`;
  }

  status(status: string): string {
    const style = STATUS_PAINT[status];
    return style ? this.paint(style, status) : status;
  }

  /** User-controlled text in a table (names, labels): no escape sequences at all. */
  cell(text: string): string {
    return terminalSafe(text, { keepColors: false });
  }

  /**
   * Columns padded to their widest cell. `paint` styles a cell after padding, so escape codes
   * never count towards a width. The last column is not padded (no trailing spaces).
   */
  table<T>(rows: T[], columns: Array<Column<T>>, empty = 'nothing to show'): void {
    if (rows.length === 0) return this.note(empty);
    const cells = rows.map((row) => columns.map((c) => this.cell(c.value(row))));
    const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
    const render = (values: string[], styles: Array<Paint | undefined>) =>
      values
        .map((value, i) => {
          const padded = i === values.length - 1 ? value : value.padEnd(widths[i]!);
          const style = styles[i];
          return style ? this.paint(style, padded) : padded;
        })
        .join('  ');
    this.print(
      render(
        columns.map((c) => c.header),
        columns.map(() => 'bold'),
      ),
    );
    cells.forEach((values, r) =>
      this.print(
        render(
          values,
          columns.map((c) => c.paint?.(rows[r]!)),
        ),
      ),
    );
  }

  /** `key: value` lines, keys aligned, for one object (`borg jobs show`). */
  fields(pairs: Array<[string, string]>): void {
    const width = Math.max(...pairs.map(([k]) => k.length)) + 1;
    for (const [key, value] of pairs) this.print(`${this.paint('bold', `${key}:`.padEnd(width))} ${this.cell(value)}`);
  }
}

/** Each line terminal-safe; the line breaks stay. */
function safeLines(text: string, keepColors: boolean): string {
  return text
    .split('\n')
    .map((line) => terminalSafe(line, { keepColors }))
    .join('\n');
}

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  /** A style for this cell of this row (e.g. by status). */
  paint?: (row: T) => Paint | undefined;
}

export function statusPaint(status: string): Paint | undefined {
  return STATUS_PAINT[status];
}

/** "3s ago", "5m ago", "2h ago", "4d ago"; absolute ISO time past a week. */
export function ago(iso: string | null, now = Date.now()): string {
  if (!iso) return '-';
  const seconds = Math.round((now - Date.parse(iso)) / 1000);
  if (seconds < 0) return 'just now';
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ago`;
  if (seconds < 7 * 86_400) return `${Math.floor(seconds / 86_400)}d ago`;
  return iso.slice(0, 19).replace('T', ' ');
}

/** "850ms", "12.3s", "4m05s", "2h03m". */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Bytes in binary units: "512 B", "1.5 KiB", "50.0 MiB". */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

export function labelsText(labels: Record<string, string>): string {
  const entries = Object.entries(labels);
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(',') : '-';
}
