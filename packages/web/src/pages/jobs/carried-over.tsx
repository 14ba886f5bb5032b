import type { JobFile } from '@borg/protocol';

/** The input files of the job being run again: already stored, so only their paths can change. */
export function KeptFiles({ files, onChange }: { files: JobFile[]; onChange: (files: JobFile[]) => void }) {
  if (files.length === 0) return null;
  const patch = (i: number, path: string) => onChange(files.map((f, j) => (j === i ? { ...f, path } : f)));
  return (
    <section aria-label="Input files of the job run again" className="text-sm">
      <p className="font-medium">Input files of the job run again (already uploaded)</p>
      <ul className="mt-1 space-y-2">
        {files.map((f, i) => (
          <li key={f.file_id} data-testid="kept-file" className="flex items-center gap-2">
            <label className="flex grow items-center gap-2">
              <span className="shrink-0 text-slate-500">path</span>
              <input
                aria-label={`Path of kept file ${i + 1}`}
                value={f.path}
                onChange={(e) => patch(i, e.target.value)}
                className="w-full rounded border border-slate-300 px-2 py-1 font-mono"
              />
            </label>
            <button
              type="button"
              onClick={() => onChange(files.filter((_, j) => j !== i))}
              className="text-red-700 underline"
            >
              Remove
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

/** The secrets of the job being run again (variable ← secret name): kept as they are, or removed. */
export function KeptSecrets({
  secrets,
  onChange,
}: {
  secrets: Record<string, string>;
  onChange: (secrets: Record<string, string>) => void;
}) {
  const entries = Object.entries(secrets);
  if (entries.length === 0) return null;
  const remove = (name: string) => onChange(Object.fromEntries(entries.filter(([key]) => key !== name)));
  return (
    <section aria-label="Secrets of the job run again" className="text-sm">
      <p className="font-medium">Secrets of the job run again</p>
      <ul className="mt-1 space-y-1">
        {entries.map(([variable, secret]) => (
          <li key={variable} data-testid="kept-secret" className="flex items-center gap-2 font-mono">
            <span>
              {variable} ← {secret}
            </span>
            <button
              type="button"
              aria-label={`Remove the secret ${variable}`}
              onClick={() => remove(variable)}
              className="font-sans text-red-700 underline"
            >
              Remove
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}
