import type { LogLine } from '@borg/protocol';
import { useEffect, useMemo, useRef, useState } from 'react';

import { parseAnsi, stripAnsi, styleOf } from '../lib/ansi.ts';

export const ROW_HEIGHT = 20;
const OVERSCAN = 20;

/** One log line: every byte arrives in React text nodes; colours come from a closed set. */
export function LogLineView({ line }: { line: LogLine }) {
  const spans = useMemo(() => parseAnsi(line.message), [line.message]);
  return (
    <div
      data-testid="log-line"
      data-stream={line.stream}
      className={`flex h-5 whitespace-pre font-mono text-xs leading-5 ${line.stream === 'stderr' ? 'bg-red-950/40' : ''}`}
    >
      <span className="w-12 shrink-0 select-none pr-2 text-right text-zinc-500">{line.index + 1}</span>
      <span
        className={`w-4 shrink-0 select-none ${line.stream === 'stderr' ? 'text-red-400' : 'text-zinc-600'}`}
        title={line.stream}
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
}

/**
 * A virtualised log: only the rows in view (plus some overscan) are in the DOM, so a log of a
 * million lines scrolls like a short one. Follow mode keeps the newest line in view and turns
 * itself off when the reader scrolls up, back on when they return to the bottom.
 */
export function LogView({
  lines,
  height = 480,
  fileName = 'log.txt',
}: {
  lines: LogLine[];
  height?: number;
  fileName?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [follow, setFollow] = useState(true);
  const [query, setQuery] = useState('');

  const shown = useMemo(() => {
    if (!query) return lines;
    const needle = query.toLowerCase();
    return lines.filter((l) => stripAnsi(l.message).toLowerCase().includes(needle));
  }, [lines, query]);

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

  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT) - OVERSCAN);
  const last = Math.min(shown.length, Math.ceil((scrollTop + height) / ROW_HEIGHT) + OVERSCAN);

  const download = () => {
    const text = lines.map((l) => stripAnsi(l.message)).join('\n') + '\n';
    const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = fileName;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  };

  return (
    <div className="rounded border border-zinc-700 bg-zinc-900">
      <div className="flex items-center gap-3 border-b border-zinc-700 px-3 py-2 text-sm text-zinc-200">
        <input
          aria-label="Search the log"
          placeholder="Search"
          value={query}
          onChange={(e) => setQuery(e.target.value)}
          className="rounded bg-zinc-800 px-2 py-1 text-zinc-100"
        />
        <span className="text-zinc-400">
          {query ? `${shown.length} of ${lines.length} lines` : `${lines.length} lines`}
        </span>
        <label className="ml-auto flex items-center gap-1">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> Follow
        </label>
        <button type="button" onClick={download} className="rounded bg-zinc-700 px-2 py-1 hover:bg-zinc-600">
          Download
        </button>
      </div>
      <div ref={box} onScroll={onScroll} data-testid="log-box" className="overflow-auto" style={{ height }}>
        <div style={{ height: shown.length * ROW_HEIGHT, position: 'relative' }}>
          <div style={{ position: 'absolute', top: first * ROW_HEIGHT, left: 0, right: 0 }}>
            {shown.slice(first, last).map((line) => (
              <LogLineView key={line.index} line={line} />
            ))}
          </div>
        </div>
      </div>
    </div>
  );
}
