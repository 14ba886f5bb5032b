import type { LogLine } from '@borg/protocol';
import { type KeyboardEvent, useEffect, useMemo, useRef, useState } from 'react';

import { stripAnsi } from '../lib/ansi.ts';
import { openBlob, saveBlob } from '../lib/download.ts';
import { useViewportHeight } from '../lib/use-viewport-height.ts';
import { LogLineView } from './log-line.tsx';

export { clockTime, gutterWidth, LogLineView } from './log-line.tsx';

export const ROW_HEIGHT = 20;
const OVERSCAN = 20;

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

/**
 * The scroll position that puts row `index` a few rows below the top of the view: the inverse
 * of visibleWindow's mapping, so a jump lands on the line in a huge log too.
 */
export function scrollTopFor(index: number, count: number, viewHeight: number): number {
  const total = count * ROW_HEIGHT;
  const spacer = Math.min(total, MAX_SCROLL_HEIGHT);
  const ratio = spacer > viewHeight ? (total - viewHeight) / (spacer - viewHeight) : 1;
  const contentTop = Math.max(0, index - 3) * ROW_HEIGHT;
  return Math.max(0, Math.min(spacer - viewHeight, contentTop / ratio));
}

/** The log box's height: most of the window (at least 320 px), all of it less the toolbar in full screen. */
export function logHeight(viewport: number, fullScreen: boolean): number {
  return fullScreen ? Math.max(200, viewport - 96) : Math.max(320, Math.round(viewport * 0.7));
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
 * itself off when the reader scrolls up and back on when they return to the bottom. Its height
 * follows the window's; it can fill the window (Escape leaves), jump to the first stderr line,
 * and open the whole log as plain text in a tab of its own.
 */
export function LogView({
  lines,
  height,
  fileName = 'log.txt',
  loading = false,
  jumpToLine,
}: {
  lines: LogLine[];
  /** A fixed height for the box in pixels; absent: from the window's height. */
  height?: number;
  fileName?: string;
  /** Earlier pages are still being fetched: a download now would miss lines, so it waits. */
  loading?: boolean;
  /** A line (by its index in the log) to bring into view and mark once it has arrived, instead of following. */
  jumpToLine?: number;
}) {
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [follow, setFollow] = useState(jumpToLine === undefined);
  const [query, setQuery] = useState('');
  const [stream, setStream] = useState<'' | LogLine['stream']>('');
  const [timestamps, setTimestamps] = useState(false);
  const [fullScreen, setFullScreen] = useState(false);
  /** The line (by its index in the log) a jump should bring into view once it is shown. */
  const [jumpTo, setJumpTo] = useState<number | null>(jumpToLine ?? null);
  const [marked, setMarked] = useState<number | null>(null);
  const viewport = useViewportHeight();

  const shown = useMemo(() => {
    if (!query && !stream) return lines;
    const needle = query.toLowerCase();
    return lines.filter(
      (l) => (!stream || l.stream === stream) && (!needle || stripAnsi(l.message).toLowerCase().includes(needle)),
    );
  }, [lines, query, stream]);
  const firstError = useMemo(() => lines.find((l) => l.stream === 'stderr'), [lines]);
  const digits = String((lines.at(-1)?.index ?? 0) + 1).length;

  // A short log gets a short box; a long one scrolls inside the height.
  const maxHeight = height ?? logHeight(viewport, fullScreen);
  const boxHeight = fullScreen
    ? maxHeight
    : Math.min(maxHeight, Math.max(6 * ROW_HEIGHT, shown.length * ROW_HEIGHT + ROW_HEIGHT));

  useEffect(() => {
    const el = box.current;
    if (follow && el) el.scrollTop = el.scrollHeight;
  }, [shown, follow]);

  useEffect(() => {
    const el = box.current;
    if (jumpTo === null || !el) return;
    const row = shown.findIndex((l) => l.index === jumpTo);
    if (row < 0) return;
    el.scrollTop = scrollTopFor(row, shown.length, boxHeight);
    setScrollTop(el.scrollTop);
    setMarked(jumpTo);
    setJumpTo(null);
  }, [jumpTo, shown, boxHeight]);

  useEffect(() => {
    if (!fullScreen) return;
    const leave = (event: globalThis.KeyboardEvent) => {
      if (event.key === 'Escape') setFullScreen(false);
    };
    document.addEventListener('keydown', leave);
    return () => document.removeEventListener('keydown', leave);
  }, [fullScreen]);

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

  const jumpToFirstError = () => {
    if (!firstError) return;
    // A filter that hides the line would make the jump land nowhere: clear the filters first.
    if (!shown.includes(firstError)) {
      setQuery('');
      setStream('');
    }
    setFollow(false);
    setJumpTo(firstError.index);
  };

  const { spacer, first, last, rowsTop } = visibleWindow(shown.length, scrollTop, boxHeight);
  const control = 'rounded bg-zinc-800 px-2 py-1 text-zinc-100 focus-visible:outline-2 focus-visible:outline-blue-400';
  const button = `${control} bg-zinc-700 hover:bg-zinc-600 disabled:cursor-wait disabled:opacity-60`;
  const text = () => new Blob([logText(lines, timestamps)], { type: 'text/plain;charset=utf-8' });

  return (
    <div
      data-testid="log-view"
      data-full-screen={fullScreen || undefined}
      className={
        fullScreen ? 'fixed inset-0 z-50 flex flex-col bg-zinc-900' : 'rounded border border-zinc-700 bg-zinc-900'
      }
    >
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
        {firstError && (
          <button type="button" onClick={jumpToFirstError} className={`${control} text-red-300 hover:bg-zinc-700`}>
            Jump to first error
          </button>
        )}
        <label className="flex items-center gap-1 sm:ml-auto">
          <input type="checkbox" checked={timestamps} onChange={(e) => setTimestamps(e.target.checked)} /> Timestamps
        </label>
        <label className="flex items-center gap-1">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
        </label>
        <button
          type="button"
          aria-pressed={fullScreen}
          title={fullScreen ? 'Escape leaves full screen' : undefined}
          onClick={() => setFullScreen(!fullScreen)}
          className={button}
        >
          Full screen
        </button>
        <button
          type="button"
          disabled={loading}
          title={loading ? 'The rest of the log is still loading' : 'The whole log as plain text, in a new tab'}
          onClick={() => openBlob(text())}
          className={button}
        >
          Raw
        </button>
        <button
          type="button"
          disabled={loading}
          title={loading ? 'The rest of the log is still loading' : undefined}
          onClick={() => saveBlob(text(), fileName)}
          className={button}
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
                <LogLineView
                  key={line.index}
                  line={line}
                  timestamps={timestamps}
                  digits={digits}
                  marked={line.index === marked}
                />
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
