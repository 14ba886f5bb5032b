import { describeDisconnectPolicy, describeRetryRules, type Job } from '@borg/protocol';
import { useQueries } from '@tanstack/react-query';
import { type ReactNode, useState } from 'react';

import { api, errorMessage } from '../../lib/api.ts';
import { downloadStoredFile } from '../../lib/download.ts';
import { formatBytes, formatDuration, formatTime } from '../../lib/format.ts';
import { queryKeys } from '../../lib/query-keys.ts';
import { describeResourceRequest } from './resource-request.tsx';

/** Environment names whose values are hidden until asked for. */
export const SECRET_NAME = /(secret|token|password|passwd|key|credential|auth|private)/i;

function Row({ label, children }: { label: string; children: ReactNode }) {
  return (
    <>
      <dt className="text-slate-500">{label}</dt>
      <dd className="min-w-0 break-words">{children}</dd>
    </>
  );
}

function InputFiles({ job }: { job: Job }) {
  const infos = useQueries({
    queries: job.files.map((f) => ({
      queryKey: queryKeys.file(f.file_id),
      queryFn: () => api().getFile(f.file_id),
      staleTime: Infinity,
    })),
  });
  const [error, setError] = useState<string | null>(null);
  if (job.files.length === 0) return <>—</>;
  return (
    <ul className="space-y-0.5">
      {job.files.map((f, i) => {
        const info = infos[i]?.data;
        return (
          <li key={f.path} data-testid="job-input-file">
            <button
              type="button"
              className="font-mono text-blue-700 hover:underline"
              onClick={() => downloadStoredFile(f.file_id, f.path).catch((e: unknown) => setError(errorMessage(e)))}
            >
              {f.path}
            </button>{' '}
            <span className="text-xs text-slate-500">
              {info ? `${info.filename}, ${formatBytes(info.size)}, sha256 ${info.sha256.slice(0, 12)}…` : ''}
            </span>
          </li>
        );
      })}
      {error && <li role="alert">{error}</li>}
    </ul>
  );
}

/** Everything the job was submitted with; secret-looking environment values are masked. */
export function JobSpec({ job }: { job: Job }) {
  const [revealed, setRevealed] = useState(false);
  const env = Object.entries(job.env);
  const hasSecrets = env.some(([k]) => SECRET_NAME.test(k));
  return (
    <dl
      data-testid="job-spec"
      className="grid grid-cols-[7rem_1fr] gap-x-3 gap-y-1 rounded bg-white p-4 text-sm shadow sm:grid-cols-[10rem_1fr]"
    >
      <Row label="Command">
        {Array.isArray(job.command) ? (
          <ol className="font-mono">
            {job.command.map((arg, i) => (
              <li key={i} className="whitespace-pre-wrap">
                <span className="mr-2 select-none text-slate-400">{i}</span>
                {arg}
              </li>
            ))}
          </ol>
        ) : (
          <pre className="font-mono whitespace-pre-wrap">{job.command}</pre>
        )}
      </Row>
      <Row label="Type">{job.type}</Row>
      {job.image && (
        <Row label="Image">
          <span className="font-mono">{job.image}</span>
        </Row>
      )}
      {job.type === 'container' && (
        <Row label="Runs as">{job.user ? <span className="font-mono">{job.user}</span> : "the image's user"}</Row>
      )}
      <Row label="Environment">
        {env.length === 0 && '—'}
        <div className="font-mono">
          {env.map(([k, v]) => (
            <div key={k} data-testid="env-var">
              {k}={SECRET_NAME.test(k) && !revealed ? <span aria-label="hidden value">••••••</span> : v}
            </div>
          ))}
        </div>
        {hasSecrets && (
          <button type="button" className="text-xs text-blue-700 underline" onClick={() => setRevealed(!revealed)}>
            {revealed ? 'hide secret values' : 'show secret values'}
          </button>
        )}
      </Row>
      <Row label="Labels">
        <span className="font-mono">
          {Object.entries(job.labels)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ') || '—'}
        </span>
      </Row>
      <Row label="Resources">{describeResourceRequest(job.resources) || 'a slot, nothing more'}</Row>
      <Row label="Constraints">
        {job.constraints.length === 0 ? (
          '—'
        ) : (
          <ul className="font-mono" aria-label="Constraints">
            {job.constraints.map((c, i) => (
              <li key={i} data-testid="job-constraint">
                {c}
              </li>
            ))}
          </ul>
        )}
      </Row>
      <Row label="Priority">{job.priority}</Row>
      <Row label="Attempts">{job.max_attempts} at most</Row>
      <Row label="Retries">{describeRetryRules(job.retry)}</Row>
      <Row label="When cut off">{describeDisconnectPolicy(job.on_disconnect)}</Row>
      <Row label="Timeout">{job.timeout_seconds ? formatDuration(job.timeout_seconds) : 'none'}</Row>
      <Row label="Array size">{job.array_size}</Row>
      <Row label="Artifacts">
        <span className="font-mono">{job.artifacts.join(', ') || '—'}</span>
      </Row>
      <Row label="Input files">
        <InputFiles job={job} />
      </Row>
      <Row label="Created">{formatTime(job.created_at)}</Row>
      <Row label="Started">{formatTime(job.started_at)}</Row>
      <Row label="Completed">{formatTime(job.completed_at)}</Row>
      <Row label="ID">
        <span className="font-mono text-xs">{job.id}</span>
      </Row>
    </dl>
  );
}
