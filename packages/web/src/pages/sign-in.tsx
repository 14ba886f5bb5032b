import type { Identity } from '@borg/protocol';
import { type FormEvent, useState } from 'react';

import { signIn, signInErrorMessage } from '../lib/api.ts';

/** Paste a user (API) token; it is checked against the mothership before it is kept. */
export function SignInPage({
  onSignedIn,
  initialError,
}: {
  onSignedIn: (identity: Identity) => void;
  initialError?: string | null;
}) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(initialError ?? null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onSignedIn(await signIn(token.trim()));
    } catch (e) {
      setError(signInErrorMessage(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="mx-auto mt-24 max-w-md rounded-lg bg-white p-8 shadow">
      <h1 className="mb-4 text-2xl font-semibold">Sign in to Borg</h1>
      <form onSubmit={submit} className="space-y-4">
        <label className="block text-sm font-medium">
          API token
          <input
            type="password"
            autoComplete="off"
            value={token}
            onChange={(e) => setToken(e.target.value)}
            className="mt-1 block w-full rounded border border-slate-300 px-3 py-2 font-mono"
            placeholder="paste the token printed at the first start"
          />
        </label>
        {error && (
          <p role="alert" className="rounded bg-red-50 px-3 py-2 text-sm text-red-800">
            {error}
          </p>
        )}
        <button
          type="submit"
          disabled={busy || token.trim() === ''}
          className="w-full rounded bg-blue-700 px-4 py-2 font-medium text-white disabled:opacity-50"
        >
          {busy ? 'Checking…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}
