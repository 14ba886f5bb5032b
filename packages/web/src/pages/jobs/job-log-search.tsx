import { type LogSearchDone, type LogSearchMatch, searchPatternProblem } from '@borg/protocol';
import { type FormEvent, useEffect, useRef, useState } from 'react';

import { Link } from '../../components/link.tsx';
import { stripAnsi } from '../../lib/ansi.ts';
import { api, errorMessage } from '../../lib/api.ts';

/** The most matches one search in the dashboard asks for; the server says when there were more. */
export const SEARCH_LIMIT = 500;

/** Matches grouped by element, elements in index order, lines in log order. */
export function groupByElement(
  matches: readonly LogSearchMatch[],
): Array<{ index: number; matches: LogSearchMatch[] }> {
  const groups = new Map<number, LogSearchMatch[]>();
  for (const match of matches) {
    const group = groups.get(match.index);
    if (group) group.push(match);
    else groups.set(match.index, [match]);
  }
  return [...groups.entries()]
    .sort(([a], [b]) => a - b)
    .map(([index, found]) => ({ index, matches: found.sort((a, b) => a.line - b.line) }));
}

interface SearchState {
  matches: LogSearchMatch[];
  done: LogSearchDone | null;
  error: string | null;
  running: boolean;
}

const IDLE: SearchState = { matches: [], done: null, error: null, running: false };

/**
 * Searches the logs of every element of a job on the server (GET /jobs/:id/logs/search): a
 * regular expression, optionally one stream. Matches appear as the server finds them, grouped by
 * element; each links to its line in the attempt's log.
 */
export function JobLogSearch({ jobId }: { jobId: string }) {
  const [pattern, setPattern] = useState('');
  const [stream, setStream] = useState<'' | 'stdout' | 'stderr'>('');
  const [state, setState] = useState<SearchState>(IDLE);
  const abort = useRef<AbortController | null>(null);
  useEffect(() => () => abort.current?.abort(), []);

  const search = async (event: FormEvent) => {
    event.preventDefault();
    abort.current?.abort();
    const problem = searchPatternProblem(pattern);
    if (problem) return setState({ ...IDLE, error: `This pattern cannot be used: ${problem}` });
    const controller = new AbortController();
    abort.current = controller;
    setState({ ...IDLE, running: true });
    const found: LogSearchMatch[] = [];
    try {
      const query = { q: pattern, limit: SEARCH_LIMIT, ...(stream ? { stream } : {}) };
      for await (const item of api().searchJobLogs(jobId, query, controller.signal)) {
        if ('done' in item) {
          setState({ matches: found, done: item, error: null, running: false });
          return;
        }
        found.push(item);
        setState({ matches: [...found], done: null, error: null, running: true });
      }
    } catch (error) {
      if (controller.signal.aborted) return;
      setState({ matches: found, done: null, error: errorMessage(error), running: false });
    }
  };

  const groups = groupByElement(state.matches);
  const input = 'rounded border border-slate-300 px-2 py-1 text-sm';
  return (
    <section aria-labelledby="job-log-search" className="space-y-2">
      <h2 id="job-log-search" className="font-semibold">
        Search every log of this job
      </h2>
      <form onSubmit={(e) => void search(e)} className="flex flex-wrap items-center gap-2">
        <input
          type="search"
          aria-label="Pattern (a regular expression)"
          placeholder="a regular expression, e.g. CUDA out of memory"
          value={pattern}
          onChange={(e) => setPattern(e.target.value)}
          className={`${input} min-w-0 flex-1 font-mono`}
        />
        <select
          aria-label="Stream"
          value={stream}
          onChange={(e) => setStream(e.target.value as typeof stream)}
          className={input}
        >
          <option value="">all streams</option>
          <option value="stdout">stdout</option>
          <option value="stderr">stderr</option>
        </select>
        <button
          type="submit"
          disabled={!pattern || state.running}
          className="rounded border border-slate-300 bg-white px-3 py-1 text-sm hover:bg-slate-100 disabled:opacity-50"
        >
          {state.running ? 'Searching…' : 'Search'}
        </button>
      </form>
      {state.error && (
        <p role="alert" className="rounded bg-red-50 px-3 py-2 text-sm text-red-800">
          {state.error}
        </p>
      )}
      {(state.done || state.running) && (
        <p role="status" className="text-sm text-slate-600">
          {state.matches.length} {state.matches.length === 1 ? 'match' : 'matches'} in {groups.length}{' '}
          {groups.length === 1 ? 'element' : 'elements'}
          {state.running && ' so far'}
          {state.done?.cut_short && ` (cut short: ${state.done.reason ?? 'limit reached'})`}
        </p>
      )}
      {groups.length > 0 && (
        <ul className="space-y-2" aria-label="Matches by element">
          {groups.map((group) => (
            <li key={group.index} className="rounded bg-white p-2 shadow">
              <p className="text-sm font-medium">
                Element #{group.index}{' '}
                <span className="font-normal text-slate-500">
                  ({group.matches.length} {group.matches.length === 1 ? 'line' : 'lines'})
                </span>
              </p>
              <ol className="mt-1 space-y-0.5 font-mono text-xs">
                {group.matches.slice(0, 20).map((match) => (
                  <li key={`${match.task_id}:${match.line}`} className="flex gap-2">
                    <Link
                      to={`/jobs/${jobId}?task=${match.task_id}&line=${match.line}`}
                      className="shrink-0 text-blue-700 underline"
                    >
                      line {match.line + 1}
                    </Link>
                    <span className={`min-w-0 break-all ${match.stream === 'stderr' ? 'text-red-800' : ''}`}>
                      {stripAnsi(match.message)}
                    </span>
                  </li>
                ))}
                {group.matches.length > 20 && (
                  <li className="text-slate-500">… {group.matches.length - 20} more in this element</li>
                )}
              </ol>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
