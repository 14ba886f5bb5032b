import type { StorageUsage } from '@borg/protocol';

import { RelativeTime } from '../components/relative-time.tsx';
import { formatBytes } from '../lib/format.ts';

const KINDS = [
  { key: 'logs', label: 'Logs', unit: 'chunk', colour: 'bg-blue-500', where: 'in the database' },
  { key: 'artifacts', label: 'Artifacts', unit: 'file', colour: 'bg-emerald-500', where: 'in the file store' },
  { key: 'files', label: 'Uploaded files', unit: 'file', colour: 'bg-amber-500', where: 'in the file store' },
] as const;

/** What logs, artifacts and uploaded files take (from /stats, measured every few seconds), with their shares of the whole. */
export function StorageUsed({ storage }: { storage: StorageUsage }) {
  const total = KINDS.reduce((sum, kind) => sum + storage[kind.key].bytes, 0);
  return (
    <section aria-label="Storage used" className="rounded bg-white p-4 shadow">
      <div className="mb-2 flex flex-wrap items-baseline gap-2">
        <h2 className="font-semibold">Storage used</h2>
        <span className="text-sm text-slate-500">
          {formatBytes(total)} in all, measured <RelativeTime at={storage.measured_at} />
        </span>
      </div>
      <div className="mb-3 flex h-2 overflow-hidden rounded bg-slate-100" aria-hidden="true">
        {total > 0 &&
          KINDS.map((kind) => (
            <div
              key={kind.key}
              className={kind.colour}
              style={{ width: `${(storage[kind.key].bytes / total) * 100}%` }}
            />
          ))}
      </div>
      <dl className="grid grid-cols-1 gap-3 sm:grid-cols-3">
        {KINDS.map((kind) => (
          <div key={kind.key} data-testid={`storage-${kind.key}`}>
            <dt className="flex items-center gap-1.5 text-sm text-slate-500">
              <span className={`inline-block h-2 w-2 rounded-full ${kind.colour}`} aria-hidden="true" />
              {kind.label}
            </dt>
            <dd className="text-xl font-semibold">{formatBytes(storage[kind.key].bytes)}</dd>
            <dd className="text-xs text-slate-500">
              {storage[kind.key].count.toLocaleString('en')} {kind.unit}
              {storage[kind.key].count === 1 ? '' : 's'} {kind.where}
            </dd>
          </div>
        ))}
      </dl>
    </section>
  );
}
