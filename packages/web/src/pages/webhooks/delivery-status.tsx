import type { WebhookDeliveryStatus } from '@borg/protocol';

const COLOURS: Record<WebhookDeliveryStatus, string> = {
  pending: 'bg-slate-200 text-slate-800',
  delivered: 'bg-green-100 text-green-800',
  failed: 'bg-red-100 text-red-800',
};

/** A delivery's state as a coloured pill, with the receiver's answer code beside it when there was one. */
export function DeliveryStatus({ status, code }: { status: WebhookDeliveryStatus; code?: number | null }) {
  return (
    <span className="inline-flex items-center gap-1 whitespace-nowrap">
      <span
        data-testid="delivery-status"
        data-status={status}
        className={`rounded px-2 py-0.5 text-xs font-medium ${COLOURS[status]}`}
      >
        {status}
      </span>
      {code !== undefined && code !== null && <span className="font-mono text-xs text-slate-600">{code}</span>}
    </span>
  );
}
