import type { Runner } from '@borg/protocol';
import { useMutation, useQueries, useQuery, useQueryClient } from '@tanstack/react-query';
import type { ReactNode } from 'react';

import { AssignedGpus } from '../../components/assigned-gpus.tsx';
import { Link } from '../../components/link.tsx';
import { Empty, ErrorState, Loading } from '../../components/page-states.tsx';
import { PermittedButton } from '../../components/permitted-button.tsx';
import { StatusBadge } from '../../components/status-badge.tsx';
import { api, errorMessage } from '../../lib/api.ts';
import { between, formatBytes, formatTime, pairs } from '../../lib/format.ts';
import { useIdentity } from '../../lib/identity.ts';
import { useTopic } from '../../lib/live.ts';
import { mayCall } from '../../lib/permissions.ts';
import { queryKeys } from '../../lib/query-keys.ts';
import { navigate } from '../../lib/router.ts';
import { useNow } from '../../lib/use-now.ts';
import { HeartbeatCountdown, useOfflineAfterSeconds } from './heartbeat.tsx';
import { CapacityUsage } from './runner-capacity.tsx';
import { RunnerGpus } from './runner-gpus.tsx';
import { RunnerStatusBadge } from './runner-status.tsx';

interface Gpu {
  name?: string;
  memory_total_mib?: number | null;
  driver?: string;
}

/** The solder's free-form `resources`, read defensively: an older or other runner may send less. */
export function describeResources(resources: Record<string, unknown>) {
  const object = (v: unknown) => (v && typeof v === 'object' ? (v as Record<string, unknown>) : {});
  const number = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const cpu = object(resources.cpu);
  const memory = object(resources.memory);
  const disk = object(resources.disk);
  const cores = number(cpu.cores);
  const total = number(memory.total_bytes);
  const free = number(memory.free_bytes);
  const diskFree = number(disk.work_dir_free_bytes);
  return {
    cpu: [typeof cpu.model === 'string' ? cpu.model : '', cores !== undefined ? `${cores} cores` : '']
      .filter(Boolean)
      .join(', '),
    memory:
      total !== undefined ? `${formatBytes(total)}${free !== undefined ? ` (${formatBytes(free)} free)` : ''}` : '',
    gpus: (Array.isArray(resources.gpus) ? (resources.gpus as Gpu[]) : []).map((g) =>
      [g.name ?? 'GPU', g.memory_total_mib ? `${g.memory_total_mib} MiB` : '', g.driver ? `driver ${g.driver}` : '']
        .filter(Boolean)
        .join(', '),
    ),
    ips: Array.isArray(resources.ip_addresses) ? resources.ip_addresses.filter((a) => typeof a === 'string') : [],
    disk: diskFree !== undefined ? `${formatBytes(diskFree)} free in the work directory` : '',
    warnings: Array.isArray(resources.warnings) ? resources.warnings.filter((w) => typeof w === 'string') : [],
  };
}

function Row({ label, children }: { label: string; children: ReactNode }) {
  return (
    <>
      <dt className="text-slate-500">{label}</dt>
      <dd className="min-w-0 break-words">{children || '—'}</dd>
    </>
  );
}

function RunningFor({ since }: { since: string | null }) {
  return <>{between(since, null, useNow())}</>;
}

function HeldTasks({ runner }: { runner: Runner }) {
  // The count arrives with every runner.updated event; a change in it refetches the list.
  const tasks = useQuery({
    queryKey: queryKeys.runnerTasks(runner.id, runner.active_tasks),
    queryFn: () => api().runnerTasks(runner.id),
  });
  // Job names, from the same cache entries the job pages use.
  const jobIds = [...new Set((tasks.data?.items ?? []).map((t) => t.job_id))];
  const jobs = useQueries({
    queries: jobIds.map((id) => ({ queryKey: queryKeys.job(id), queryFn: () => api().getJob(id) })),
  });
  const names = new Map(jobs.flatMap((j) => (j.data ? [[j.data.id, j.data.name] as const] : [])));
  if (tasks.error) return <ErrorState error={tasks.error} retry={() => void tasks.refetch()} />;
  if (!tasks.data) return <Loading what="Loading its tasks" />;
  if (tasks.data.items.length === 0) return <Empty>No task on this runner right now.</Empty>;
  return (
    <ul className="divide-y divide-slate-100 rounded bg-white text-sm shadow">
      {tasks.data.items.map((t) => (
        <li key={t.id} data-testid="runner-task" className="flex flex-wrap items-center gap-3 p-2">
          <StatusBadge status={t.status} />
          <Link to={`/jobs/${t.job_id}?task=${t.id}`}>
            {names.get(t.job_id) ?? `job ${t.job_id.slice(0, 8)}`}, element #{t.index}, attempt {t.attempt}
          </Link>
          <span className="text-slate-500">
            for <RunningFor since={t.started_at ?? t.assigned_at} />
          </span>
          {t.gpus.length > 0 && <AssignedGpus gpus={t.gpus} />}
        </li>
      ))}
    </ul>
  );
}

export function RunnerDetailPage({ id }: { id: string }) {
  useTopic('runners');
  const queries = useQueryClient();
  const identity = useIdentity();
  const runner = useQuery({ queryKey: queryKeys.runner(id), queryFn: () => api().getRunner(id) });
  const offlineAfter = useOfflineAfterSeconds();
  const drain = useMutation({
    mutationFn: (draining: boolean) => (draining ? api().drainRunner(id) : api().resumeRunner(id)),
    onSuccess: (updated) => queries.setQueryData(queryKeys.runner(id), updated),
  });
  const approve = useMutation({
    mutationFn: () => api().approveRunner(id),
    onSuccess: (updated) => queries.setQueryData(queryKeys.runner(id), updated),
  });
  const remove = useMutation({
    mutationFn: () => api().deleteRunner(id),
    onSuccess: () => {
      queries.removeQueries({ queryKey: queryKeys.runner(id) });
      void queries.invalidateQueries({ queryKey: queryKeys.runners() });
      navigate('/runners');
    },
  });
  const confirmDelete = () => {
    const question =
      'Delete this runner? Its token stops working, the tasks it holds are retried on other runners, ' +
      'and its machine may not register again under this identity.';
    if (window.confirm(question)) remove.mutate();
  };
  const actionError = drain.error ?? approve.error ?? remove.error;

  if (runner.error) return <ErrorState error={runner.error} retry={() => void runner.refetch()} />;
  if (!runner.data) return <Loading what="Loading the runner" />;
  const r = runner.data;
  const res = describeResources(r.resources);
  const button =
    'rounded border border-slate-300 bg-white px-3 py-1 text-sm hover:bg-slate-100 disabled:opacity-50 focus-visible:outline-2 focus-visible:outline-blue-600';
  return (
    <section className="space-y-4">
      <p className="text-sm">
        <Link to="/runners">← Runners</Link>
      </p>
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="text-xl font-semibold break-all">{r.name}</h1>
        <RunnerStatusBadge runner={r} />
        <div className="flex gap-2 sm:ml-auto">
          {!r.approved && (
            <PermittedButton
              permission={mayCall(identity, 'approveRunner')}
              className={button}
              disabled={approve.isPending}
              onClick={() => approve.mutate()}
            >
              Approve
            </PermittedButton>
          )}
          {r.draining ? (
            <PermittedButton
              permission={mayCall(identity, 'resumeRunner')}
              className={button}
              disabled={drain.isPending}
              onClick={() => drain.mutate(false)}
            >
              Resume
            </PermittedButton>
          ) : (
            <PermittedButton
              permission={mayCall(identity, 'drainRunner')}
              className={button}
              disabled={drain.isPending}
              onClick={() => drain.mutate(true)}
            >
              Drain
            </PermittedButton>
          )}
          <PermittedButton
            permission={mayCall(identity, 'deleteRunner')}
            className={button}
            disabled={remove.isPending}
            onClick={confirmDelete}
          >
            Delete
          </PermittedButton>
        </div>
      </div>
      {r.draining && (
        <p className="rounded bg-amber-50 px-3 py-2 text-sm text-amber-900">
          Draining: it finishes the tasks it holds and takes no new ones.
        </p>
      )}
      {!r.approved && (
        <p className="rounded bg-amber-50 px-3 py-2 text-sm text-amber-900">
          Awaiting approval: this runner registered while the mothership requires an operator to approve new runners,
          and it gets no work until one does.
        </p>
      )}
      {!r.protocol_supported && (
        <p role="status" className="rounded bg-red-50 px-3 py-2 text-sm text-red-900">
          This solder speaks runner protocol {r.protocol_version}, which this mothership does not: upgrade it (run the
          install line again on its machine).
        </p>
      )}
      {actionError && <p role="alert">{errorMessage(actionError)}</p>}
      <dl
        data-testid="runner-spec"
        className="grid grid-cols-[7rem_1fr] gap-x-3 gap-y-1 rounded bg-white p-4 text-sm shadow sm:grid-cols-[10rem_1fr]"
      >
        <Row label="Last heartbeat">
          <HeartbeatCountdown runner={r} offlineAfter={offlineAfter} />
          <span className="block text-xs text-slate-500">{formatTime(r.last_heartbeat)}</span>
        </Row>
        <Row label="Tasks">
          {r.active_tasks} running of {r.max_concurrent_tasks} at most
        </Row>
        <Row label="Host">
          {r.hostname} ({r.os}/{r.arch})
        </Row>
        <Row label="CPU">{res.cpu}</Row>
        <Row label="Memory">{res.memory}</Row>
        {r.capacity && (
          <Row label="Capacity">
            <CapacityUsage capacity={r.capacity} />
          </Row>
        )}
        <Row label="GPUs">
          {r.gpus.length > 0 ? `${r.gpus.length} (below)` : res.gpus.length > 0 ? res.gpus.join('; ') : 'none'}
        </Row>
        <Row label="Disk">{res.disk}</Row>
        <Row label="IP addresses">
          <span className="font-mono">{res.ips.join(', ')}</span>
        </Row>
        <Row label="Version">{r.version}</Row>
        <Row label="Job types">
          {r.job_types ? r.job_types.join(', ') : 'every type'}
          {r.job_types && !r.job_types.includes('container') && (
            <span className="text-slate-500"> (no container jobs: no container CLI works, or --job-types)</span>
          )}
        </Row>
        <Row label="Labels">
          <span className="font-mono">
            {Object.entries(r.labels)
              .map(([k, v]) => `${k}=${v}`)
              .join(', ')}
          </span>
        </Row>
        <Row label="Attributes">
          <span className="font-mono" title="Labels and what detection knows: what constraints read">
            {pairs(r.attributes)}
          </span>
        </Row>
        <Row label="Registered">{formatTime(r.created_at)}</Row>
        <Row label="ID">
          <span className="font-mono text-xs">{r.id}</span>
        </Row>
        {res.warnings.length > 0 && <Row label="Probe warnings">{res.warnings.join('; ')}</Row>}
      </dl>
      {r.gpus.length > 0 && (
        <>
          <h2 className="font-semibold">GPUs</h2>
          <RunnerGpus runner={r} />
        </>
      )}
      <h2 className="font-semibold">Tasks on this runner</h2>
      <HeldTasks runner={r} />
    </section>
  );
}
