import type { RetryDecision, Task } from '@borg/protocol';
import { useId, useState } from 'react';

import { AssignedGpus } from '../../components/assigned-gpus.tsx';
import { Elapsed } from '../../components/elapsed.tsx';
import { Link } from '../../components/link.tsx';
import { RelativeTime } from '../../components/relative-time.tsx';
import { StatusBadge } from '../../components/status-badge.tsx';
import { navigate } from '../../lib/router.ts';
import { TaskPlacementPanel } from './task-placement-panel.tsx';

/** What endReason reads of an attempt: a Task, or a job's failure as the jobs list has it. */
export type EndedAttempt = Pick<Task, 'status' | 'reason' | 'error' | 'exit_code'> & { cancel_requested?: boolean };

/** Why an attempt ended, in words: its exit code for a plain failure, nothing for a success. */
export function endReason(task: EndedAttempt): string {
  const reasons: Record<string, string> = {
    runner_lost: 'lost: its runner went silent',
    runner_restarted: 'lost: its runner restarted',
    server_timeout: 'timed out (server deadline)',
    timed_out: 'timed out',
    cancelled: 'cancelled by a user',
    agent_stop: 'stopped: its runner shut down',
    dependency_unmet: 'skipped: a job it depends on did not end as needed',
    disconnected: 'stopped: its runner was cut off from the mothership',
    superseded: 'stopped: a copy of an earlier attempt, kept running while cut off, succeeded first',
  };
  if (task.reason) return reasons[task.reason] ?? task.reason.replace(/_/g, ' ');
  if (task.status === 'timed_out') return 'timed out';
  if (task.status === 'lost') return 'lost';
  if (task.status === 'cancelled') return task.cancel_requested ? 'cancelled by a user' : 'cancelled';
  if (task.error) return task.error;
  if (task.status === 'failed' && task.exit_code !== null) return `exited with ${task.exit_code}`;
  return '';
}

/**
 * One attempt in the job's table. A pending one has a "Why pending?" button that opens its
 * placement in a row of its own under it (fetched only while open).
 */
export function AttemptRow({
  task: t,
  jobId,
  runnerName,
  selected,
  showGpus,
  columns,
}: {
  task: Task;
  jobId: string;
  runnerName: string | undefined;
  selected: boolean;
  showGpus: boolean;
  columns: number;
}) {
  const [open, setOpen] = useState(false);
  const panelId = useId();
  const pending = t.status === 'pending';
  return (
    <>
      <tr
        data-testid="task-row"
        aria-selected={selected}
        className={`border-b border-slate-100 last:border-0 ${selected ? 'bg-blue-50' : ''}`}
      >
        <td className="p-2">
          <button
            type="button"
            className="text-blue-700 hover:underline"
            aria-label={`Show the log of element ${t.index}, attempt ${t.attempt}`}
            onClick={() => navigate(`/jobs/${jobId}?task=${t.id}`, { replace: true })}
          >
            #{t.index}
          </button>
        </td>
        <td className="p-2">{t.attempt}</td>
        <td className="p-2">
          <span className="flex flex-wrap items-center gap-2">
            <StatusBadge status={t.status} />
            {pending && (
              <button
                type="button"
                aria-expanded={open}
                aria-controls={open ? panelId : undefined}
                onClick={() => setOpen(!open)}
                className="text-xs whitespace-nowrap text-blue-700 underline"
              >
                Why pending?
              </button>
            )}
          </span>
        </td>
        <td className="p-2 whitespace-nowrap">
          {t.runner_id ? <Link to={`/runners/${t.runner_id}`}>{runnerName ?? 'runner'}</Link> : '—'}
        </td>
        <td className="hidden p-2 whitespace-nowrap sm:table-cell">
          <RelativeTime at={t.started_at ?? t.assigned_at} />
        </td>
        <td className="hidden p-2 whitespace-nowrap sm:table-cell">
          <RelativeTime at={t.completed_at} />
        </td>
        <td className="p-2 whitespace-nowrap">
          <Elapsed from={t.started_at ?? t.assigned_at} to={t.completed_at} />
        </td>
        <td className="p-2">{t.exit_code ?? t.signal ?? '—'}</td>
        {showGpus && (
          <td className="hidden p-2 md:table-cell">
            <AssignedGpus gpus={t.gpus} />
          </td>
        )}
        <td className="p-2" data-testid="end-reason">
          {endReason(t)}
          {t.retry_decision && <RetryDecisionNote decision={t.retry_decision} />}
        </td>
      </tr>
      {open && pending && (
        <tr className="border-b border-slate-100 bg-slate-50">
          <td colSpan={columns} className="p-3">
            <section
              id={panelId}
              aria-label={`Why element ${t.index}, attempt ${t.attempt} is pending`}
              data-testid="placement"
            >
              <TaskPlacementPanel taskId={t.id} />
            </section>
          </td>
        </tr>
      )}
    </>
  );
}

/** Which retry rule retried this attempt, or why it was not retried (the job's retry rules). */
function RetryDecisionNote({ decision }: { decision: RetryDecision }) {
  return (
    <span
      data-testid="retry-decision"
      className={`block text-xs ${decision.retried ? 'text-slate-500' : 'text-amber-700'}`}
      title={`rule: ${decision.rule}${decision.counted ? '' : ' (not counted against max_attempts)'}`}
    >
      {decision.retried ? 'Retried' : 'Not retried'}: {decision.message}
    </span>
  );
}
