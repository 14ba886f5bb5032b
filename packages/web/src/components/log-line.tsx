import type { LogLine } from '@borg/protocol';
import { memo, useMemo } from 'react';

import { parseAnsi, styleOf } from '../lib/ansi.ts';

/** hh:mm:ss.mmm in local time: the part of a timestamp that tells lines of one task apart. */
export function clockTime(iso: string): string {
  const d = new Date(iso);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** The line-number column for numbers of this many digits, with room for the gap after them. */
export function gutterWidth(digits: number): string {
  return `${Math.max(3, digits) + 1}ch`;
}

/** One log line: every byte arrives in React text nodes; colours come from a closed set. */
export const LogLineView = memo(function LogLineView({
  line,
  timestamps = false,
  digits = 6,
  marked = false,
}: {
  line: LogLine;
  timestamps?: boolean;
  /** Digits of the highest line number shown: the gutter is that wide, so no number overflows it. */
  digits?: number;
  /** The line a jump landed on, outlined. */
  marked?: boolean;
}) {
  const spans = useMemo(() => parseAnsi(line.message), [line.message]);
  return (
    <div
      data-testid="log-line"
      data-stream={line.stream}
      data-marked={marked || undefined}
      className={`flex h-5 whitespace-pre font-mono text-xs leading-5 ${line.stream === 'stderr' ? 'bg-red-950/40' : ''} ${marked ? 'outline-1 -outline-offset-1 outline-amber-400' : ''}`}
    >
      <span
        data-testid="line-number"
        className="shrink-0 select-none pr-2 text-right text-zinc-500"
        style={{ width: gutterWidth(digits) }}
      >
        {line.index + 1}
      </span>
      {timestamps && (
        <time dateTime={line.timestamp} className="shrink-0 select-none pr-2 text-zinc-500">
          {clockTime(line.timestamp)}
        </time>
      )}
      <span
        className={`w-4 shrink-0 select-none ${line.stream === 'stderr' ? 'text-red-400' : 'text-zinc-600'}`}
        title={line.stream}
        aria-label={line.stream === 'stdout' ? undefined : line.stream}
      >
        {line.stream === 'stderr' ? 'E' : line.stream === 'system' ? 'S' : ''}
      </span>
      <span className="text-zinc-100">
        {spans.map((span, i) => {
          const { className, css } = styleOf(span.style);
          return (
            <span key={i} className={className} style={css}>
              {span.text}
            </span>
          );
        })}
      </span>
    </div>
  );
});
