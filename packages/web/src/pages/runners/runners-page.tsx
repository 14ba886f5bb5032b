import { useQuery } from '@tanstack/react-query';

import { Link } from '../../components/link.tsx';
import { Empty, ErrorState, Loading } from '../../components/page-states.tsx';
import { api } from '../../lib/api.ts';
import { useIdentity } from '../../lib/identity.ts';
import { useTopic } from '../../lib/live.ts';
import { mayCall } from '../../lib/permissions.ts';
import { queryKeys } from '../../lib/query-keys.ts';
import { HeartbeatCountdown, useOfflineAfterSeconds } from './heartbeat.tsx';
import { RunnerStatusBadge } from './runner-status.tsx';

export function RunnersPage() {
  useTopic('runners');
  const runners = useQuery({ queryKey: queryKeys.runners(), queryFn: () => api().listRunners({ limit: 500 }) });
  const offlineAfter = useOfflineAfterSeconds();
  // Adding a runner takes a registration token, which only an admin creates: others see no button.
  const mayAdd = mayCall(useIdentity(), 'createToken').allowed;
  return (
    <section>
      <div className="mb-4 flex flex-wrap items-center gap-2">
        <h1 className="mr-2 text-xl font-semibold">Runners</h1>
        {mayAdd && (
          <Link
            to="/runners/new"
            className="rounded bg-blue-700 px-3 py-1.5 text-white hover:bg-blue-800 focus-visible:outline-2 focus-visible:outline-blue-600 sm:ml-auto"
          >
            Add a runner
          </Link>
        )}
      </div>
      {runners.error && <ErrorState error={runners.error} retry={() => void runners.refetch()} />}
      {runners.isLoading && <Loading what="Loading runners" />}
      {runners.data && runners.data.items.length === 0 && (
        <Empty>
          No runner has registered yet.{' '}
          {mayAdd
            ? 'Add one with “Add a runner”.'
            : 'An admin adds them (“Add a runner”, or the install line in docs/solder.md).'}
        </Empty>
      )}
      {runners.data && runners.data.items.length > 0 && (
        <div className="overflow-x-auto rounded bg-white shadow">
          <table className="w-full text-left text-sm">
            <thead className="border-b border-slate-200 text-slate-500">
              <tr>
                <th className="p-2">Name</th>
                <th className="p-2">Status</th>
                <th className="hidden p-2 sm:table-cell">Host</th>
                <th className="hidden p-2 sm:table-cell">Version</th>
                <th className="p-2">Tasks</th>
                <th className="hidden p-2 md:table-cell">GPUs</th>
                <th className="hidden p-2 md:table-cell">Labels</th>
                <th className="hidden p-2 sm:table-cell">Last heartbeat</th>
              </tr>
            </thead>
            <tbody>
              {runners.data.items.map((r) => (
                <tr key={r.id} data-testid="runner-row" className="border-b border-slate-100 last:border-0">
                  <td className="p-2">
                    <Link to={`/runners/${r.id}`}>{r.name}</Link>
                  </td>
                  <td className="p-2">
                    <RunnerStatusBadge runner={r} />
                  </td>
                  <td className="hidden p-2 sm:table-cell">
                    {r.hostname} ({r.os}/{r.arch})
                  </td>
                  <td data-testid="runner-version" className="hidden p-2 font-mono text-xs sm:table-cell">
                    {r.version ?? '—'}
                  </td>
                  <td className="p-2">
                    {r.active_tasks} / {r.max_concurrent_tasks}
                  </td>
                  <td data-testid="runner-gpu-count" className="hidden p-2 md:table-cell">
                    {r.gpus.length > 0
                      ? `${r.gpus.filter((g) => g.task_id !== null).length} / ${r.gpus.length} held`
                      : '—'}
                  </td>
                  <td className="hidden p-2 font-mono text-xs md:table-cell">
                    {Object.entries(r.labels)
                      .map(([k, v]) => `${k}=${v}`)
                      .join(', ')}
                  </td>
                  <td className="hidden p-2 sm:table-cell">
                    <HeartbeatCountdown runner={r} offlineAfter={offlineAfter} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
