import type { AuditEvent } from '@borg/protocol';

import { Link } from '../../components/link.tsx';
import { RelativeTime } from '../../components/relative-time.tsx';

/** Where an audited object has a page of its own. */
const PAGE_OF_OBJECT: Record<string, (id: string) => string> = {
  job: (id) => `/jobs/${id}`,
  runner: (id) => `/runners/${id}`,
};

const OUTCOME_COLOURS: Record<AuditEvent['outcome'], string> = {
  ok: 'bg-green-100 text-green-800',
  refused: 'bg-amber-100 text-amber-900',
  failed: 'bg-red-100 text-red-800',
};

function Actor({ actor }: { actor: AuditEvent['actor'] }) {
  if (!actor) return <span className="text-slate-500 italic">no valid token</span>;
  return (
    // A long name is cut short; the role always shows.
    <span className="flex items-baseline gap-1" title={`token ${actor.token_id}`}>
      <span className="truncate">{actor.name}</span>{' '}
      <span className="shrink-0 text-xs text-slate-500">({actor.role ?? actor.kind})</span>
    </span>
  );
}

function AuditObject({ object }: { object: AuditEvent['object'] }) {
  if (!object) return <>—</>;
  const text = `${object.type} ${object.id}`;
  const page = PAGE_OF_OBJECT[object.type];
  return page ? <Link to={page(object.id)}>{text}</Link> : <>{text}</>;
}

/** Audit entries as rows; every value is a text node, so nothing a token's name holds can become markup. */
export function AuditTable({ events }: { events: AuditEvent[] }) {
  return (
    <table className="w-full text-left text-sm">
      <thead className="border-b border-slate-200 text-slate-500">
        <tr>
          <th className="p-2">Time</th>
          <th className="p-2">Actor</th>
          <th className="p-2">Action</th>
          <th className="p-2">Object</th>
          <th className="hidden p-2 sm:table-cell">Address</th>
          <th className="p-2">Outcome</th>
        </tr>
      </thead>
      <tbody>
        {events.map((event) => (
          <tr key={event.id} data-testid="audit-row" className="border-b border-slate-100 last:border-0">
            <td className="p-2 whitespace-nowrap">
              <RelativeTime at={event.at} />
            </td>
            <td className="max-w-56 p-2">
              <Actor actor={event.actor} />
            </td>
            <td className="p-2 font-mono text-xs whitespace-nowrap">{event.action}</td>
            <td className="max-w-64 truncate p-2 font-mono text-xs">
              <AuditObject object={event.object} />
            </td>
            <td className="hidden p-2 font-mono text-xs sm:table-cell">{event.address}</td>
            <td className="p-2 whitespace-nowrap">
              <span
                data-testid="audit-outcome"
                data-outcome={event.outcome}
                className={`rounded px-2 py-0.5 text-xs font-medium ${OUTCOME_COLOURS[event.outcome]}`}
              >
                {event.outcome} {event.status}
              </span>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
