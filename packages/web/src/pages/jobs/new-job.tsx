import type { CreateJobRequest } from '@borg/protocol';
import { type FormEvent, useState } from 'react';

/** Turns `KEY=value` lines into a record; blank lines are skipped. Throws on a line without `=`. */
export function parsePairs(text: string, what: string): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`${what}: "${line}" is not KEY=value`);
    out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The new-job form; it builds a request and leaves sending it to `onSubmit`. */
export function NewJobForm({ onSubmit }: { onSubmit: (job: CreateJobRequest) => Promise<void> }) {
  const [name, setName] = useState('');
  const [command, setCommand] = useState('');
  const [env, setEnv] = useState('');
  const [labels, setLabels] = useState('');
  const [attempts, setAttempts] = useState('1');
  const [timeout, setTimeoutSeconds] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setError(null);
    let job: CreateJobRequest;
    try {
      if (!name.trim()) throw new Error('a job needs a name');
      if (!command.trim()) throw new Error('a job needs a command');
      job = {
        name: name.trim(),
        type: 'shell',
        command,
        env: parsePairs(env, 'environment'),
        labels: parsePairs(labels, 'labels'),
        max_attempts: Number(attempts) || 1,
        timeout_seconds: timeout ? Number(timeout) : undefined,
      };
    } catch (e) {
      return setError((e as Error).message);
    }
    setBusy(true);
    try {
      await onSubmit(job);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const input = 'mt-1 block w-full rounded border border-slate-300 px-3 py-2';
  return (
    <form onSubmit={submit} className="max-w-2xl space-y-4 rounded-lg bg-white p-6 shadow">
      <label className="block text-sm font-medium">
        Name
        <input value={name} onChange={(e) => setName(e.target.value)} className={input} />
      </label>
      <label className="block text-sm font-medium">
        Shell command
        <textarea
          value={command}
          onChange={(e) => setCommand(e.target.value)}
          rows={4}
          className={`${input} font-mono`}
        />
      </label>
      <div className="grid grid-cols-2 gap-4">
        <label className="block text-sm font-medium">
          Environment (KEY=value per line)
          <textarea value={env} onChange={(e) => setEnv(e.target.value)} rows={3} className={`${input} font-mono`} />
        </label>
        <label className="block text-sm font-medium">
          Required runner labels (key=value per line)
          <textarea
            value={labels}
            onChange={(e) => setLabels(e.target.value)}
            rows={3}
            className={`${input} font-mono`}
          />
        </label>
        <label className="block text-sm font-medium">
          Attempts
          <input
            type="number"
            min={1}
            value={attempts}
            onChange={(e) => setAttempts(e.target.value)}
            className={input}
          />
        </label>
        <label className="block text-sm font-medium">
          Timeout (seconds)
          <input
            type="number"
            min={1}
            value={timeout}
            onChange={(e) => setTimeoutSeconds(e.target.value)}
            className={input}
          />
        </label>
      </div>
      {error && (
        <p role="alert" className="rounded bg-red-50 px-3 py-2 text-sm text-red-800">
          {error}
        </p>
      )}
      <button type="submit" disabled={busy} className="rounded bg-blue-700 px-4 py-2 font-medium text-white">
        {busy ? 'Submitting…' : 'Submit job'}
      </button>
    </form>
  );
}
