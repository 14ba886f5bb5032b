import type { ReactNode } from 'react';

import { errorMessage } from '../lib/api.ts';

/** What a page shows while its data is on the way. */
export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p role="status" aria-live="polite" className="py-8 text-center text-slate-500">
      {what}…
    </p>
  );
}

/** A failed load, with the server's message and a way to try again. */
export function ErrorState({ error, retry }: { error: unknown; retry?: () => void }) {
  return (
    <div role="alert" className="my-4 rounded border border-red-200 bg-red-50 p-4 text-sm text-red-800">
      <p>{errorMessage(error)}</p>
      {retry && (
        <button type="button" onClick={retry} className="mt-2 rounded border border-red-300 bg-white px-3 py-1">
          Try again
        </button>
      )}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="py-8 text-center text-slate-500">{children}</p>;
}
