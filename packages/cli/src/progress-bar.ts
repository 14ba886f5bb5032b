import { bytes } from './output.ts';

interface Terminal {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * A one-line transfer bar on stderr, redrawn in place at most 10 times a second:
 * `data.bin  [##########----------]  52%  26.0 MiB / 50.0 MiB  84.1 MiB/s`.
 * Only on a terminal: in a pipe or a CI log it prints nothing, so output stays clean.
 */
export class ProgressBar {
  private done = 0;
  private lastDraw = 0;
  private readonly started = Date.now();
  private readonly active: boolean;

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly terminal: Terminal = process.stderr,
    private readonly now: () => number = Date.now,
  ) {
    this.active = Boolean(terminal.isTTY);
  }

  advance(n: number): void {
    this.done += n;
    if (!this.active) return;
    const t = this.now();
    if (t - this.lastDraw < 100 && this.done < this.total) return;
    this.lastDraw = t;
    this.terminal.write(`\r${this.render(t)}\u001b[K`);
  }

  /** Leaves the final state on its own line. */
  finish(): void {
    if (!this.active) return;
    this.terminal.write(`\r${this.render(this.now())}\u001b[K\n`);
  }

  /** Clears the bar (on failure, so the error message starts on a clean line). */
  clear(): void {
    if (this.active) this.terminal.write('\r\u001b[K');
  }

  render(t: number): string {
    const fraction = this.total > 0 ? Math.min(1, this.done / this.total) : 1;
    const seconds = Math.max(0.001, (t - this.started) / 1000);
    const rate = `${bytes(Math.round(this.done / seconds))}/s`;
    const numbers = `${String(Math.floor(fraction * 100)).padStart(3)}%  ${bytes(this.done)} / ${bytes(this.total)}  ${rate}`;
    const columns = this.terminal.columns ?? 80;
    const label = this.label.length > 24 ? `…${this.label.slice(-23)}` : this.label;
    const width = Math.max(10, Math.min(30, columns - label.length - numbers.length - 8));
    const filled = Math.round(fraction * width);
    return `${label}  [${'#'.repeat(filled)}${'-'.repeat(width - filled)}]  ${numbers}`;
  }
}
