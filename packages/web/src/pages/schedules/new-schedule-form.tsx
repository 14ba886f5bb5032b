import {
  type Schedule,
  SCHEDULE_CATCH_UPS,
  SCHEDULE_OVERLAPS,
  type ScheduleCatchUp,
  type ScheduleOverlap,
} from '@borg/protocol';
import { useMutation } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';

import { Field } from '../../components/field.tsx';
import { api, errorMessage } from '../../lib/api.ts';

const input = 'mt-1 block w-full rounded border border-slate-300 px-3 py-2';

/** "pool=gpu, zone=eu" → {pool: 'gpu', zone: 'eu'}; null when a pair has no "=". */
function labelsOf(text: string): Record<string, string> | null {
  const labels: Record<string, string> = {};
  for (const pair of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const at = pair.indexOf('=');
    if (at <= 0) return null;
    labels[pair.slice(0, at).trim()] = pair.slice(at + 1).trim();
  }
  return labels;
}

/**
 * Creates a schedule: a name, a cron in a time zone, what to do on overlap and after downtime,
 * and the shell command each fire runs (with the labels a runner must have). The mothership
 * checks the cron, the zone and the job, and answers with what is wrong.
 */
export function NewScheduleForm({ onCreated }: { onCreated: (schedule: Schedule) => void }) {
  const [name, setName] = useState('');
  const [cron, setCron] = useState('0 3 * * *');
  const [timezone, setTimezone] = useState(() => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC');
  const [overlap, setOverlap] = useState<ScheduleOverlap>('skip');
  const [catchUp, setCatchUp] = useState<ScheduleCatchUp>('none');
  const [command, setCommand] = useState('');
  const [labels, setLabels] = useState('');
  const parsedLabels = labelsOf(labels);
  const create = useMutation({
    mutationFn: () =>
      api().createSchedule({
        name: name.trim(),
        cron: cron.trim(),
        timezone: timezone.trim(),
        overlap,
        catch_up: catchUp,
        job: { name: name.trim(), type: 'shell', command, labels: parsedLabels ?? {} },
      }),
    onSuccess: (created) => {
      setName('');
      setCommand('');
      onCreated(created);
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };

  return (
    <form aria-label="New schedule" onSubmit={submit} className="space-y-3 rounded bg-white p-4 shadow">
      <h2 className="font-semibold">New schedule</h2>
      <div className="grid gap-3 sm:grid-cols-3">
        <Field label="Name">
          {(props) => (
            <input {...props} required value={name} onChange={(e) => setName(e.target.value)} className={input} />
          )}
        </Field>
        <Field label="Cron" hint="minute hour day month weekday; 6 fields start with seconds; or @daily">
          {(props) => (
            <input
              {...props}
              required
              value={cron}
              onChange={(e) => setCron(e.target.value)}
              className={`${input} font-mono`}
            />
          )}
        </Field>
        <Field label="Time zone" hint="an IANA name: UTC, Europe/Berlin, America/New_York">
          {(props) => (
            <input
              {...props}
              required
              value={timezone}
              onChange={(e) => setTimezone(e.target.value)}
              className={input}
            />
          )}
        </Field>
        <Field label="While the previous job runs">
          {(props) => (
            <select
              {...props}
              value={overlap}
              onChange={(e) => setOverlap(e.target.value as ScheduleOverlap)}
              className={input}
            >
              {SCHEDULE_OVERLAPS.map((o) => (
                <option key={o} value={o}>
                  {o === 'skip' ? 'skip the slot' : o === 'allow' ? 'run both' : 'cancel it, run the new one'}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field label="Slots missed while down">
          {(props) => (
            <select
              {...props}
              value={catchUp}
              onChange={(e) => setCatchUp(e.target.value as ScheduleCatchUp)}
              className={input}
            >
              {SCHEDULE_CATCH_UPS.map((c) => (
                <option key={c} value={c}>
                  {c === 'none' ? 'run none of them' : 'run once for the latest'}
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field
          label="Runner labels (optional)"
          hint="key=value, comma-separated"
          error={parsedLabels ? undefined : 'write each label as key=value'}
        >
          {(props) => <input {...props} value={labels} onChange={(e) => setLabels(e.target.value)} className={input} />}
        </Field>
      </div>
      <Field label="Command" hint="run by sh -c at each fire">
        {(props) => (
          <textarea
            {...props}
            required
            rows={2}
            value={command}
            onChange={(e) => setCommand(e.target.value)}
            className={`${input} font-mono`}
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
        disabled={create.isPending || !parsedLabels}
        className="rounded bg-slate-900 px-4 py-2 text-sm font-medium text-white disabled:opacity-50"
      >
        {create.isPending ? 'Creating…' : 'Create schedule'}
      </button>
    </form>
  );
}
