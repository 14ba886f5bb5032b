import type { Task } from '@borg/protocol';

import { LogLineView } from '../../components/log-line.tsx';
import { useTopic } from '../../lib/live.ts';
import { navigate } from '../../lib/router.ts';
import { latestAttempts } from './array-progress.tsx';
import { type EndedAttempt, endReason } from './attempt-row.tsx';
import { useTaskLog } from './task-log.ts';

/** Statuses that make an element's last attempt a failure. */
const FAILED: ReadonlySet<Task['status']> = new Set(['failed', 'timed_out', 'lost']);

/** The id of the job page's log heading, where "Show the full log" scrolls to. */
export const LOG_HEADING_ID = 'task-log';

/** How many of the failing attempt's last log lines the banner shows. */
export const BANNER_LINES = 12;

/** The attempt that failed the job: the lowest element whose last attempt failed, or none. */
export function failingAttempt(tasks: readonly Task[]): Task | undefined {
  return latestAttempts(tasks).find((t) => FAILED.has(t.status));
}

/** "exited with 3", "timed out", "lost: its runner went silent": why the attempt ended. */
export function failureWords(task: EndedAttempt): string {
  return endReason(task) || (task.status === 'failed' ? 'failed' : task.status.replace(/_/g, ' '));
}

function LastLines({ task }: { task: Task }) {
  useTopic(`task:${task.id}`);
  const log = useTaskLog(task.id);
  if (log.error) return <p className="text-sm">The log could not be loaded.</p>;
  if (!log.data) return <p className="text-sm">Loading the end of its log…</p>;
  const lines = log.data.lines.slice(-BANNER_LINES);
  if (lines.length === 0) return <p className="text-sm">It printed nothing.</p>;
  const digits = String(lines.at(-1)!.index + 1).length;
  return (
    <div
      role="log"
      aria-label="The last lines of the failing attempt's log"
      data-testid="failure-log"
      className="overflow-x-auto rounded bg-zinc-900 py-1"
    >
      {lines.map((line) => (
        <LogLineView key={line.index} line={line} digits={digits} />
      ))}
    </div>
  );
}

/**
 * What a failed job's page opens on, as CI pages do: which element failed, how (its exit code or
 * end reason), and the last lines of its log, with a way to the whole log.
 */
export function FailureBanner({ jobId, tasks }: { jobId: string; tasks: readonly Task[] }) {
  const failing = failingAttempt(tasks);
  if (!failing) return null;
  const element = tasks.some((t) => t.index !== failing.index) ? `Element #${failing.index}` : 'The job';
  return (
    <section
      aria-labelledby="failure-title"
      data-testid="failure-banner"
      className="space-y-2 rounded border border-red-300 bg-red-50 p-3 text-red-900"
    >
      <div className="flex flex-wrap items-baseline gap-x-3">
        <h2 id="failure-title" className="font-semibold">
          {element} failed on attempt {failing.attempt}: {failureWords(failing)}
        </h2>
        <button
          type="button"
          className="text-sm text-blue-700 underline sm:ml-auto"
          onClick={() => {
            navigate(`/jobs/${jobId}?task=${failing.id}`, { replace: true });
            document.getElementById(LOG_HEADING_ID)?.scrollIntoView?.({ block: 'start' });
          }}
        >
          Show the full log
        </button>
      </div>
      <LastLines task={failing} />
    </section>
  );
}
