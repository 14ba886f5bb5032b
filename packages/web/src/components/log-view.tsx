import type { LogLine } from '@borg/protocol';
import { type KeyboardEvent, memo, useEffect, useMemo, useRef, useState } from 'react';

import { parseAnsi, stripAnsi, styleOf } from '../lib/ansi.ts';
import { saveBlob } from '../lib/download.ts';

export const ROW_HEIGHT = 20;
const OVERSCAN = 20;

/** hh:mm:ss.mmm in local time: the part of a timestamp that tells lines of one task apart. */
export function clockTime(iso: string): string {
  const d = new Date(iso);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

/** One log line: every byte arrives in React text nodes; colours come from a closed set. */
export const LogLineView = memo(function LogLineView({
  line,
  timestamps = false,
}: {
  line: LogLine;
  timestamps?: boolean;
}) {
  const spans = useMemo(() => parseAnsi(line.message), [line.message]);
  return (
    <div
      data-testid="log-line"
      data-stream={line.stream}
      className={`flex h-5 whitespace-pre font-mono text-xs leading-5 ${line.stream === 'stderr' ? 'bg-red-950/40' : ''}`}
    >
      <span className="w-12 shrink-0 select-none pr-2 text-right text-zinc-500">{line.index + 1}</span>
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

/**
 * Browsers cap an element's height (Firefox near 17.9 million pixels, Chrome near 33.5 million),
 * and a million 20 px lines is 20 million. Past this height the scrollbar stands for the log
 * proportionally instead of one pixel per pixel.
 */
export const MAX_SCROLL_HEIGHT = 8_000_000;

/**
 * Which rows to draw for a scroll position, and where: the spacer gives the scrollbar its
 * length; the drawn rows sit where the reader looks. Below MAX_SCROLL_HEIGHT a scrolled pixel
 * is a pixel of log; above it, the scroll position maps linearly onto the whole log.
 */
export function visibleWindow(count: number, scrollTop: number, viewHeight: number) {
  const total = count * ROW_HEIGHT;
  const spacer = Math.min(total, MAX_SCROLL_HEIGHT);
  const ratio = spacer > viewHeight ? (total - viewHeight) / (spacer - viewHeight) : 1;
  const contentTop = scrollTop * ratio;
  const first = Math.max(0, Math.floor(contentTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(count, Math.ceil((contentTop + viewHeight) / ROW_HEIGHT) + OVERSCAN);
  return { spacer, first, last, rowsTop: scrollTop + first * ROW_HEIGHT - contentTop };
}

/** The whole log as plain text, one line each, escape sequences removed (the download). */
export function logText(lines: readonly LogLine[], timestamps: boolean): string {
  return (
    lines
      .map(
        (l) =>
          `${timestamps ? `${l.timestamp} ` : ''}${l.stream === 'stdout' ? '' : `[${l.stream}] `}${stripAnsi(l.message)}`,
      )
      .join('\n') + '\n'
  );
}

/**
 * A virtualised log: only the rows in view (plus some overscan) are in the DOM, so a log of a
 * million lines scrolls like a short one (all rows are one fixed height, so the window is plain
 * arithmetic; no measuring library needed). Follow mode keeps the newest line in view; it turns
 * itself off when the reader scrolls up and back on when they return to the bottom.
 */
export function LogView({
  lines,
  height = 480,
  fileName = 'log.txt',
  loading = false,
}: {
  lines: LogLine[];
  height?: number;
  fileName?: string;
  /** Earlier pages are still being fetched: a download now would miss lines, so it waits. */
  loading?: boolean;
}) {
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [follow, setFollow] = useState(true);
  const [query, setQuery] = useState('');
  const [stream, setStream] = useState<'' | LogLine['stream']>('');
  const [timestamps, setTimestamps] = useState(false);

  const shown = useMemo(() => {
    if (!query && !stream) return lines;
    const needle = query.toLowerCase();
    return lines.filter(
      (l) => (!stream || l.stream === stream) && (!needle || stripAnsi(l.message).toLowerCase().includes(needle)),
    );
  }, [lines, query, stream]);

  useEffect(() => {
    const el = box.current;
    if (follow && el) el.scrollTop = el.scrollHeight;
  }, [shown, follow]);

  const onScroll = () => {
    const el = box.current;
    if (!el) return;
    setScrollTop(el.scrollTop);
    setFollow(el.scrollTop + el.clientHeight >= el.scrollHeight - ROW_HEIGHT);
  };

  // The box is focusable, so the keyboard scrolls it; End follows again, Home goes to the top.
  const onKeyDown = (event: KeyboardEvent<HTMLDivElement>) => {
    const el = box.current;
    if (!el) return;
    if (event.key === 'End') {
      event.preventDefault();
      setFollow(true);
    } else if (event.key === 'Home') {
      event.preventDefault();
      setFollow(false);
      el.scrollTop = 0;
    }
  };

  // A short log gets a short box; a long one scrolls inside `height`.
  const boxHeight = Math.min(height, Math.max(6 * ROW_HEIGHT, shown.length * ROW_HEIGHT + ROW_HEIGHT));
  const { spacer, first, last, rowsTop } = visibleWindow(shown.length, scrollTop, boxHeight);
  const control = 'rounded bg-zinc-800 px-2 py-1 text-zinc-100 focus-visible:outline-2 focus-visible:outline-blue-400';

  return (
    <div className="rounded border border-zinc-700 bg-zinc-900">
      <div className="flex flex-wrap items-center gap-2 border-b border-zinc-700 px-3 py-2 text-sm text-zinc-200 sm:gap-3">
        <input
          type="search"
          aria-label="Search the log"
          placeholder="Search"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          className={`${control} w-32 sm:w-48`}
        />
        <select
          aria-label="Stream"
          value={stream}
          onChange={(e) => setStream(e.target.value as typeof stream)}
          className={control}
        >
          <option value="">all streams</option>
          <option value="stdout">stdout</option>
          <option value="stderr">stderr</option>
          <option value="system">system</option>
        </select>
        <span className="text-zinc-400" aria-live="polite">
          {query || stream
            ? `${shown.length} of ${lines.length} lines`
            : lines.length === 1
              ? '1 line'
              : `${lines.length} lines`}
        </span>
        <label className="flex items-center gap-1 sm:ml-auto">
          <input type="checkbox" checked={timestamps} onChange={(e) => setTimestamps(e.target.checked)} /> Timestamps
        </label>
        <label className="flex items-center gap-1">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
        </label>
        <button
          type="button"
          disabled={loading}
          title={loading ? 'The rest of the log is still loading' : undefined}
          onClick={() => saveBlob(new Blob([logText(lines, timestamps)], { type: 'text/plain' }), fileName)}
          className={`${control} bg-zinc-700 hover:bg-zinc-600 disabled:cursor-wait disabled:opacity-60`}
        >
          {loading ? 'Loading…' : 'Download'}
        </button>
      </div>
      <div className="relative">
        <div
          ref={box}
          onScroll={onScroll}
          onKeyDown={onKeyDown}
          tabIndex={0}
          role="log"
          aria-label="Task log"
          data-testid="log-box"
          className="overflow-auto focus-visible:outline-2 focus-visible:outline-blue-400"
          style={{ height: boxHeight }}
        >
          <div style={{ height: spacer, position: 'relative' }}>
            <div style={{ position: 'absolute', top: rowsTop, left: 0, right: 0 }}>
              {shown.slice(first, last).map((line) => (
                <LogLineView key={line.index} line={line} timestamps={timestamps} />
              ))}
            </div>
          </div>
          {lines.length === 0 && <p className="p-3 text-sm text-zinc-400">No output yet.</p>}
        </div>
        {!follow && shown.length > 0 && (
          <button
            type="button"
            onClick={() => setFollow(true)}
            className="absolute right-4 bottom-3 rounded bg-blue-600 px-3 py-1 text-sm text-white shadow hover:bg-blue-500"
          >
            ↓ Follow the end
          </button>
        )}
      </div>
    </div>
  );
}
