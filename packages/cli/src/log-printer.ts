import type { LogLine, Task } from '@borg/protocol';

import type { Output, Paint } from './output.ts';
import { terminalSafe } from './terminal-safe.ts';

const ELEMENT_PAINTS: Paint[] = ['cyan', 'magenta', 'yellow', 'green', 'blue'];

/**
 * Prints task log lines where a person or a script expects them: the task's stdout on stdout,
 * its stderr (and the solder's `system` lines) on stderr, so `borg submit --follow -- make test
 * 2>/dev/null` behaves like `make test 2>/dev/null`. With `-o json` every line is one JSON
 * object on stdout, with the message exactly as stored.
 *
 * On a terminal the message is made terminal-safe (terminal-safe.ts); into a pipe or a file it
 * is written as the task wrote it, so the output of a job can be processed like the output of a
 * local command.
 */
export class LogPrinter {
  constructor(
    private readonly output: Output,
    private readonly options: {
      /** Prefix lines with the element index (array jobs). */
      prefix: boolean;
      grep?: RegExp;
    },
  ) {}

  print(task: Pick<Task, 'id' | 'job_id' | 'index' | 'attempt'>, line: LogLine): void {
    if (this.options.grep && !this.options.grep.test(line.message)) return;
    if (this.output.json) {
      this.output.printJsonLine({
        type: 'log',
        job_id: task.job_id,
        task_id: task.id,
        element: task.index,
        attempt: task.attempt,
        ...line,
      });
      return;
    }
    const toStdout = line.stream === 'stdout';
    const stream = toStdout ? this.output.stdout : this.output.stderr;
    const terminal = toStdout ? this.output.stdoutIsTerminal : this.output.stderrIsTerminal;
    const colors = toStdout ? this.output.colorOut : this.output.colorErr;
    let message = terminal ? terminalSafe(line.message, { keepColors: colors }) : line.message;
    // A colour left open by the task must not bleed into the next line's prefix.
    if (colors && message.includes('\u001b[')) message += '\u001b[0m';
    if (line.stream === 'system') message = this.output.paint('dim', message, 'err');
    const prefix = this.options.prefix ? this.prefixFor(task.index, toStdout ? 'out' : 'err') : '';
    stream.write(prefix + message + '\n');
  }

  /** A note between attempts: "── element 2, attempt 2 ──" (stderr, never in JSON output). */
  attemptStarted(task: Pick<Task, 'index' | 'attempt'>): void {
    if (this.output.json) return;
    const what = this.options.prefix ? `element ${task.index}, attempt ${task.attempt}` : `attempt ${task.attempt}`;
    this.output.note(this.output.paint('dim', `── ${what} ──`, 'err'));
  }

  private prefixFor(index: number, stream: 'out' | 'err'): string {
    const paint = ELEMENT_PAINTS[index % ELEMENT_PAINTS.length]!;
    return this.output.paint(paint, `[${index}]`, stream) + ' ';
  }
}
