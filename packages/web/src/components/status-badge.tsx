const COLOURS: Record<string, string> = {
  queued: 'bg-slate-200 text-slate-800',
  blocked: 'bg-violet-100 text-violet-800',
  skipped: 'bg-amber-50 text-amber-800 ring-1 ring-amber-300',
  pending: 'bg-slate-200 text-slate-800',
  assigned: 'bg-sky-100 text-sky-800',
  running: 'bg-blue-100 text-blue-800',
  paused: 'bg-amber-100 text-amber-800',
  succeeded: 'bg-green-100 text-green-800',
  failed: 'bg-red-100 text-red-800',
  timed_out: 'bg-red-100 text-red-800',
  lost: 'bg-orange-100 text-orange-800',
  cancelled: 'bg-zinc-200 text-zinc-700',
  online: 'bg-green-100 text-green-800',
  busy: 'bg-blue-100 text-blue-800',
  offline: 'bg-zinc-200 text-zinc-700',
  draining: 'bg-amber-100 text-amber-800',
  awaiting_approval: 'bg-amber-100 text-amber-800',
};

/** A job, task or runner state as a coloured pill; unknown states get a neutral one. `label` words it otherwise. */
export function StatusBadge({ status, label }: { status: string; label?: string }) {
  const colour = COLOURS[status] ?? 'bg-zinc-100 text-zinc-700';
  return (
    <span data-testid="status" data-status={status} className={`rounded px-2 py-0.5 text-xs font-medium ${colour}`}>
      {label ?? status.replaceAll('_', ' ')}
    </span>
  );
}
