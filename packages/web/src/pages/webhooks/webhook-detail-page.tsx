import type { WebhookDelivery, WebhookDeliveryPage } from '@borg/protocol';
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';

import { Link } from '../../components/link.tsx';
import { Empty, ErrorState, Loading } from '../../components/page-states.tsx';
import { PermittedButton } from '../../components/permitted-button.tsx';
import { RelativeTime } from '../../components/relative-time.tsx';
import { api, errorMessage } from '../../lib/api.ts';
import { useIdentity } from '../../lib/identity.ts';
import { mayCall } from '../../lib/permissions.ts';
import { queryKeys } from '../../lib/query-keys.ts';
import { navigate } from '../../lib/router.ts';
import { DeliveryStatus } from './delivery-status.tsx';

/** Deliveries asked for in one request ("Load more" asks for the next). */
export const DELIVERY_PAGE_SIZE = 50;
/** While a delivery is pending, the list is read again this often (deliveries have no live events). */
const PENDING_REFRESH_MS = 2_000;

const button =
  'rounded border border-slate-300 bg-white px-3 py-1 text-sm hover:bg-slate-100 disabled:opacity-50 focus-visible:outline-2 focus-visible:outline-blue-600';

/** `/webhooks/:id`: one webhook, a test ping, and its deliveries newest first, each one redeliverable. */
export function WebhookDetailPage({ id }: { id: string }) {
  const identity = useIdentity();
  const queries = useQueryClient();
  const webhook = useQuery({ queryKey: queryKeys.webhook(id), queryFn: () => api().getWebhook(id) });
  const deliveries = useInfiniteQuery({
    queryKey: queryKeys.webhookDeliveries(id),
    queryFn: ({ pageParam }) => api().listWebhookDeliveries(id, { limit: DELIVERY_PAGE_SIZE, cursor: pageParam }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last: WebhookDeliveryPage) => last.next_cursor ?? undefined,
    refetchInterval: (query) =>
      query.state.data?.pages.some((p) => p.items.some((d) => d.status === 'pending')) ? PENDING_REFRESH_MS : false,
  });
  const refresh = () => {
    void queries.invalidateQueries({ queryKey: queryKeys.webhookDeliveries(id) });
    void queries.invalidateQueries({ queryKey: queryKeys.webhooks() });
  };
  const ping = useMutation({ mutationFn: () => api().pingWebhook(id), onSuccess: refresh });
  const redeliver = useMutation({
    mutationFn: (deliveryId: string) => api().redeliverWebhookDelivery(id, deliveryId),
    onSuccess: refresh,
  });
  const setActive = useMutation({
    mutationFn: (active: boolean) => api().updateWebhook(id, { active }),
    onSuccess: (updated) => {
      queries.setQueryData(queryKeys.webhook(id), updated);
      void queries.invalidateQueries({ queryKey: queryKeys.webhooks() });
    },
  });
  const remove = useMutation({
    mutationFn: () => api().deleteWebhook(id),
    onSuccess: () => {
      void queries.invalidateQueries({ queryKey: queryKeys.webhooks() });
      navigate('/webhooks');
    },
  });

  if (webhook.error) return <ErrorState error={webhook.error} retry={() => void webhook.refetch()} />;
  if (!webhook.data) return <Loading what="Loading the webhook" />;
  const w = webhook.data;
  const items = deliveries.data?.pages.flatMap((p) => p.items) ?? [];
  const actionError = setActive.error ?? remove.error ?? redeliver.error;

  return (
    <section className="space-y-4">
      <p className="text-sm">
        <Link to="/webhooks">← Webhooks</Link>
      </p>
      <div className="flex flex-wrap items-center gap-3">
        <h1 className="text-xl font-semibold break-all">{w.url}</h1>
        {!w.active && <span className="rounded bg-amber-100 px-2 py-0.5 text-xs text-amber-900">inactive</span>}
        <div className="flex gap-2 sm:ml-auto">
          <PermittedButton
            permission={mayCall(identity, 'pingWebhook')}
            className={button}
            disabled={ping.isPending}
            onClick={() => ping.mutate()}
          >
            {ping.isPending ? 'Pinging…' : 'Ping'}
          </PermittedButton>
          <PermittedButton
            permission={mayCall(identity, 'updateWebhook')}
            className={button}
            disabled={setActive.isPending}
            onClick={() => setActive.mutate(!w.active)}
          >
            {w.active ? 'Deactivate' : 'Activate'}
          </PermittedButton>
          <PermittedButton
            permission={mayCall(identity, 'deleteWebhook')}
            className={button}
            disabled={remove.isPending}
            onClick={() => {
              if (window.confirm(`Delete the webhook to ${w.url} and its deliveries?`)) remove.mutate();
            }}
          >
            Delete
          </PermittedButton>
        </div>
      </div>
      {ping.data && <PingResult delivery={ping.data} />}
      {ping.error && <ErrorState error={ping.error} />}
      {actionError && (
        <p role="alert" className="rounded bg-red-50 px-3 py-2 text-sm text-red-800">
          {errorMessage(actionError)}
        </p>
      )}
      <dl className="grid grid-cols-[auto_1fr] gap-x-6 gap-y-1 rounded bg-white p-4 text-sm shadow">
        <dt className="text-slate-500">Events</dt>
        <dd className="font-mono text-xs">{w.events.join(', ')}</dd>
        <dt className="text-slate-500">Signed</dt>
        <dd>{w.secret_set ? 'yes: X-Borg-Signature, HMAC-SHA256 with its secret' : 'no: it has no secret'}</dd>
        <dt className="text-slate-500">Created</dt>
        <dd>
          <RelativeTime at={w.created_at} />
        </dd>
      </dl>

      <h2 className="font-semibold">Deliveries</h2>
      {deliveries.error && <ErrorState error={deliveries.error} retry={() => void deliveries.refetch()} />}
      {deliveries.isLoading && <Loading what="Loading the deliveries" />}
      {deliveries.data && (
        // relative: the header's sr-only label is placed inside this box, not past the page's edge.
        <div className="relative overflow-x-auto rounded bg-white shadow">
          <table className="w-full text-left text-sm">
            <thead className="border-b border-slate-200 text-slate-500">
              <tr>
                <th className="p-2">Time</th>
                <th className="p-2">Event</th>
                <th className="p-2">Status</th>
                <th className="p-2">Response time</th>
                <th className="p-2">Attempts</th>
                <th className="p-2">Next attempt</th>
                <th className="p-2">Last error</th>
                <th className="p-2">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {items.map((delivery) => (
                <DeliveryRow
                  key={delivery.id}
                  delivery={delivery}
                  redelivering={redeliver.isPending && redeliver.variables === delivery.id}
                  onRedeliver={() => redeliver.mutate(delivery.id)}
                />
              ))}
            </tbody>
          </table>
          {items.length === 0 && <Empty>Nothing sent yet. Ping it to try the receiver.</Empty>}
        </div>
      )}
      {deliveries.hasNextPage && (
        <button type="button" onClick={() => void deliveries.fetchNextPage()} className={button}>
          {deliveries.isFetchingNextPage ? 'Loading…' : 'Load more'}
        </button>
      )}
    </section>
  );
}

function DeliveryRow({
  delivery,
  redelivering,
  onRedeliver,
}: {
  delivery: WebhookDelivery;
  redelivering: boolean;
  onRedeliver: () => void;
}) {
  const identity = useIdentity();
  const [open, setOpen] = useState(false);
  return (
    <>
      <tr data-testid="delivery-row" className="border-b border-slate-100 align-top last:border-0">
        <td className="p-2 whitespace-nowrap">
          <RelativeTime at={delivery.created_at} />
        </td>
        <td className="p-2 font-mono text-xs whitespace-nowrap">
          {delivery.event}
          {delivery.redelivery_of && <span className="ml-1 font-sans text-slate-500">(again)</span>}
        </td>
        <td className="p-2">
          <DeliveryStatus status={delivery.status} code={delivery.response_status_code} />
        </td>
        <td className="p-2 whitespace-nowrap">
          {delivery.response_time_ms === null ? '—' : `${delivery.response_time_ms} ms`}
        </td>
        <td className="p-2">
          <button
            type="button"
            aria-expanded={open}
            disabled={delivery.attempts === 0}
            onClick={() => setOpen(!open)}
            className="text-blue-700 hover:underline disabled:text-slate-900 disabled:no-underline"
            title="Show each attempt"
          >
            {delivery.attempts} {delivery.attempts > 0 && (open ? '▾' : '▸')}
          </button>
        </td>
        <td className="p-2 whitespace-nowrap">
          <RelativeTime at={delivery.next_attempt_at} />
        </td>
        <td className="max-w-80 p-2 text-xs break-words text-red-800">{delivery.last_error}</td>
        <td className="p-2">
          <PermittedButton
            permission={mayCall(identity, 'redeliverWebhookDelivery')}
            className={button}
            disabled={redelivering}
            onClick={onRedeliver}
          >
            Redeliver
          </PermittedButton>
        </td>
      </tr>
      {open && (
        <tr className="border-b border-slate-100 bg-slate-50">
          <td colSpan={8} className="p-2">
            <AttemptLog webhookId={delivery.webhook_id} delivery={delivery} />
          </td>
        </tr>
      )}
    </>
  );
}

/** Each attempt of one delivery: when, the answer's code and time, the error, and the start of the answer. */
function AttemptLog({ webhookId, delivery }: { webhookId: string; delivery: WebhookDelivery }) {
  const detail = useQuery({
    // Keyed by the attempt count too: a new attempt reads the log again.
    queryKey: [...queryKeys.webhookDelivery(webhookId, delivery.id), delivery.attempts],
    queryFn: () => api().getWebhookDelivery(webhookId, delivery.id),
  });
  if (detail.error) return <ErrorState error={detail.error} retry={() => void detail.refetch()} />;
  if (!detail.data) return <Loading what="Loading the attempts" />;
  return (
    <table data-testid="attempt-log" className="w-full text-left text-xs">
      <thead className="text-slate-500">
        <tr>
          <th className="p-1">Attempt</th>
          <th className="p-1">Started</th>
          <th className="p-1">Code</th>
          <th className="p-1">Time</th>
          <th className="p-1">Error</th>
          <th className="p-1">Answer</th>
        </tr>
      </thead>
      <tbody>
        {detail.data.attempt_log.map((attempt) => (
          <tr key={attempt.attempt} className="align-top">
            <td className="p-1">{attempt.attempt}</td>
            <td className="p-1 whitespace-nowrap">
              <RelativeTime at={attempt.started_at} />
            </td>
            <td className="p-1 font-mono">{attempt.status_code ?? '—'}</td>
            <td className="p-1 whitespace-nowrap">{attempt.duration_ms} ms</td>
            <td className="p-1 break-words text-red-800">{attempt.error}</td>
            <td className="max-w-96 p-1">
              <pre className="font-mono break-all whitespace-pre-wrap">{attempt.response_body}</pre>
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function PingResult({ delivery }: { delivery: WebhookDelivery }) {
  const ok = delivery.status === 'delivered';
  return (
    <p
      role="status"
      data-testid="ping-result"
      className={`rounded px-3 py-2 text-sm ${ok ? 'bg-green-50 text-green-900' : 'bg-red-50 text-red-900'}`}
    >
      {ok
        ? `Ping delivered: the receiver answered ${delivery.response_status_code} in ${delivery.response_time_ms} ms.`
        : `Ping not delivered: ${delivery.last_error ?? 'no answer'}.`}
    </p>
  );
}
