import type { CreatedWebhook } from '@borg/protocol';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useState } from 'react';

import { CopyButton } from '../../components/copy-button.tsx';
import { Link } from '../../components/link.tsx';
import { Empty, ErrorState, Loading } from '../../components/page-states.tsx';
import { RelativeTime } from '../../components/relative-time.tsx';
import { api } from '../../lib/api.ts';
import { useIdentity } from '../../lib/identity.ts';
import { mayCall } from '../../lib/permissions.ts';
import { queryKeys } from '../../lib/query-keys.ts';
import { DeliveryStatus } from './delivery-status.tsx';
import { NewWebhookForm } from './new-webhook-form.tsx';

/** `/webhooks`, for admins: every webhook with its last delivery, and the form for a new one. */
export function WebhooksPage() {
  const allowed = mayCall(useIdentity(), 'listWebhooks');
  if (!allowed.allowed) {
    return (
      <section>
        <h1 className="mb-4 text-xl font-semibold">Webhooks</h1>
        <p role="status" className="rounded bg-amber-50 px-3 py-2 text-sm text-amber-900">
          This token cannot manage webhooks. {allowed.reason}.
        </p>
      </section>
    );
  }
  return <Webhooks />;
}

function Webhooks() {
  const queries = useQueryClient();
  const list = useQuery({ queryKey: queryKeys.webhooks(), queryFn: () => api().listWebhooks() });
  const [created, setCreated] = useState<CreatedWebhook | null>(null);

  return (
    <section className="space-y-4">
      <h1 className="text-xl font-semibold">Webhooks</h1>
      <p className="text-sm text-slate-600">
        Borg POSTs a signed JSON body to each URL when the events it listens for happen: jobs ending, attempts failing
        or lost, runners going offline or coming back.
      </p>
      {created && <CreatedNotice webhook={created} onClose={() => setCreated(null)} />}
      {list.error && <ErrorState error={list.error} retry={() => void list.refetch()} />}
      {list.isLoading && <Loading what="Loading the webhooks" />}
      {list.data && (
        <div className="overflow-x-auto rounded bg-white shadow">
          <table className="w-full text-left text-sm">
            <thead className="border-b border-slate-200 text-slate-500">
              <tr>
                <th className="p-2">URL</th>
                <th className="p-2">Events</th>
                <th className="p-2">Active</th>
                <th className="p-2">Last delivery</th>
              </tr>
            </thead>
            <tbody>
              {list.data.items.map((webhook) => (
                <tr key={webhook.id} data-testid="webhook-row" className="border-b border-slate-100 last:border-0">
                  <td className="max-w-96 truncate p-2">
                    <Link to={`/webhooks/${webhook.id}`}>{webhook.url}</Link>
                  </td>
                  <td className="p-2 font-mono text-xs">{webhook.events.join(', ')}</td>
                  <td className="p-2">{webhook.active ? 'yes' : 'no'}</td>
                  <td className="p-2 whitespace-nowrap">
                    {webhook.last_delivery ? (
                      <span className="flex items-center gap-2">
                        <DeliveryStatus
                          status={webhook.last_delivery.status}
                          code={webhook.last_delivery.response_status_code}
                        />
                        <RelativeTime at={webhook.last_delivery.at} />
                      </span>
                    ) : (
                      '—'
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {list.data.items.length === 0 && <Empty>No webhooks yet.</Empty>}
        </div>
      )}
      <NewWebhookForm
        onCreated={(webhook) => {
          setCreated(webhook);
          void queries.invalidateQueries({ queryKey: queryKeys.webhooks() });
        }}
      />
    </section>
  );
}

/** The answer to a creation: where it is, and a generated secret, shown this once. */
function CreatedNotice({ webhook, onClose }: { webhook: CreatedWebhook; onClose: () => void }) {
  return (
    <div role="status" className="space-y-2 rounded border border-green-200 bg-green-50 p-3 text-sm text-green-900">
      <p>
        Webhook created: <Link to={`/webhooks/${webhook.id}`}>{webhook.url}</Link>
      </p>
      {webhook.secret && (
        <div>
          <p>Its secret, shown this once (receivers check X-Borg-Signature with it):</p>
          <p className="mt-1 flex items-center gap-2">
            <code data-testid="webhook-secret" className="rounded bg-white px-2 py-1 font-mono text-xs break-all">
              {webhook.secret}
            </code>
            <CopyButton
              text={() => webhook.secret ?? ''}
              label="Copy the secret"
              className="rounded border border-green-300 bg-white px-2 py-0.5 text-xs"
            />
          </p>
        </div>
      )}
      <button type="button" onClick={onClose} className="rounded border border-green-300 bg-white px-3 py-1">
        Done
      </button>
    </div>
  );
}
