import { ALL_WEBHOOK_EVENTS, type CreatedWebhook, WEBHOOK_EVENTS } from '@borg/protocol';
import { useMutation } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';

import { Field } from '../../components/field.tsx';
import { api, errorMessage } from '../../lib/api.ts';

const input = 'mt-1 block w-full rounded border border-slate-300 px-3 py-2';

/** What each event means, beside its checkbox. */
const EVENT_HINTS: Record<(typeof WEBHOOK_EVENTS)[number], string> = {
  'job.succeeded': 'a job ended, every element succeeded',
  'job.failed': 'a job ended failed',
  'job.cancelled': 'a job was cancelled',
  'job.skipped': 'a job was skipped: a dependency can no longer be met',
  'task.failed': 'an attempt exited non-zero',
  'task.lost': 'an attempt was lost with its runner',
  'runner.offline': 'a runner went offline',
  'runner.online': 'a runner registered or came back',
};

/**
 * Creates a webhook: its URL, the events it is sent (checkboxes, or every event), and a secret,
 * generated when left empty. The mothership checks the URL (scheme, no credentials, no private
 * address) and answers with what is wrong.
 */
export function NewWebhookForm({ onCreated }: { onCreated: (webhook: CreatedWebhook) => void }) {
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState<Set<string>>(new Set(['job.failed']));
  const [secret, setSecret] = useState('');
  const create = useMutation({
    mutationFn: () =>
      api().createWebhook({ url: url.trim(), events: [...events], secret: secret === '' ? undefined : secret }),
    onSuccess: (created) => {
      setUrl('');
      setSecret('');
      onCreated(created);
    },
  });
  const every = events.has(ALL_WEBHOOK_EVENTS);
  const toggle = (event: string, on: boolean) => {
    const next = new Set(events);
    if (on) next.add(event);
    else next.delete(event);
    setEvents(next);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };

  return (
    <form aria-label="New webhook" onSubmit={submit} className="space-y-3 rounded bg-white p-4 shadow">
      <h2 className="font-semibold">New webhook</h2>
      <Field label="URL" hint="Where deliveries are POSTed: http:// or https://">
        {(props) => (
          <input
            {...props}
            type="url"
            required
            value={url}
            onChange={(e) => setUrl(e.target.value)}
            placeholder="https://ci.example.com/borg"
            className={input}
          />
        )}
      </Field>
      {/* min-w-0: a fieldset is at least as wide as its content, so a long hint would widen the page. */}
      <fieldset className="min-w-0 text-sm">
        <legend className="font-medium">Events</legend>
        <label className="mt-1 flex items-center gap-2">
          <input type="checkbox" checked={every} onChange={(e) => toggle(ALL_WEBHOOK_EVENTS, e.target.checked)} />
          Every event <span className="text-xs text-slate-500">(*, including ones added later)</span>
        </label>
        <div className="mt-1 grid gap-1 sm:grid-cols-2">
          {WEBHOOK_EVENTS.map((event) => (
            <label key={event} className="flex items-baseline gap-2">
              <input
                type="checkbox"
                disabled={every}
                checked={every || events.has(event)}
                onChange={(e) => toggle(event, e.target.checked)}
              />
              <span className="font-mono text-xs">{event}</span>
              <span className="text-xs text-slate-500">{EVENT_HINTS[event]}</span>
            </label>
          ))}
        </div>
      </fieldset>
      <Field
        label="Secret (optional)"
        hint="Signs each delivery (X-Borg-Signature). Leave it empty and one is generated and shown once."
      >
        {(props) => (
          <input
            {...props}
            type="password"
            autoComplete="new-password"
            value={secret}
            onChange={(e) => setSecret(e.target.value)}
            className={input}
          />
        )}
      </Field>
      {create.error && (
        <p role="alert" className="rounded bg-red-50 px-3 py-2 text-sm text-red-800">
          {errorMessage(create.error)}
        </p>
      )}
      <button
        type="submit"
        disabled={create.isPending || events.size === 0}
        className="rounded bg-slate-900 px-4 py-2 text-sm font-medium text-white disabled:opacity-50"
      >
        {create.isPending ? 'Creating…' : 'Create webhook'}
      </button>
    </form>
  );
}
