import { useQuery } from '@tanstack/react-query';

import { StatusBadge } from '../../components/status-badge.tsx';
import { api, errorMessage } from '../../lib/api.ts';
import { useTopic } from '../../lib/live.ts';

export function RunnersPage() {
  useTopic('runners');
  const runners = useQuery({ queryKey: ['runners'], queryFn: () => api().listRunners({ limit: 500 }) });
  if (runners.error) return <p role="alert">{errorMessage(runners.error)}</p>;
  return (
    <section>
      <h1 className="mb-4 text-xl font-semibold">Runners</h1>
      <table className="w-full rounded bg-white text-left text-sm shadow">
        <thead className="border-b text-slate-500">
          <tr>
            <th className="p-2">Name</th>
            <th className="p-2">Status</th>
            <th className="p-2">Host</th>
            <th className="p-2">Tasks</th>
            <th className="p-2">Labels</th>
            <th className="p-2">Last heartbeat</th>
          </tr>
        </thead>
        <tbody>
          {(runners.data?.items ?? []).map((r) => (
            <tr key={r.id} data-testid="runner-row" className="border-b last:border-0">
              <td className="p-2">{r.name}</td>
              <td className="p-2">
                <StatusBadge status={r.status} /> {r.draining && <StatusBadge status="draining" />}
              </td>
              <td className="p-2">
                {r.hostname} ({r.os}/{r.arch})
              </td>
              <td className="p-2">
                {r.active_tasks} / {r.max_concurrent_tasks}
              </td>
              <td className="p-2 font-mono text-xs">
                {Object.entries(r.labels)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(', ')}
              </td>
              <td className="p-2">{r.last_heartbeat ? new Date(r.last_heartbeat).toLocaleString() : '—'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
