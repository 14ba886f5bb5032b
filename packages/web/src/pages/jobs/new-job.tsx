import {
  BorgApiError,
  type CreateJobRequest,
  type FileInfo,
  JOB_TYPES,
  type JobFile,
  type JobType,
} from '@borg/protocol';
import { type FormEvent, useRef, useState } from 'react';

import { Field } from '../../components/field.tsx';
import { errorMessage } from '../../lib/api.ts';
import { formatBytes } from '../../lib/format.ts';
import { useIdentity } from '../../lib/identity.ts';
import { mayCall } from '../../lib/permissions.ts';
import { uploadFile, type UploadFn } from '../../lib/upload.ts';
import { KeptFiles, KeptSecrets } from './carried-over.tsx';
import type { InitialJobValues } from './job-clone.ts';
import { buildJobRequest, type FieldErrors, FIELDS } from './job-request.ts';
import { NO_PLACEMENT, PlacementFields, type PlacementValues } from './placement-fields.tsx';
import { NO_RETRY_RULES, RetryFields, type RetryValues } from './retry-fields.tsx';
import { type Unsatisfiable, unsatisfiableOf, UnsatisfiableReport } from './unsatisfiable-report.tsx';

export { parsePairs } from './job-request.ts';

/**
 * The form field a server validation issue belongs to: `body.files.0.path` → `files`,
 * `body.resources.cpu` → `resources.cpu`.
 */
export function fieldOfIssue(path: string): string {
  const [first, second, third] = path.split('.');
  if (first === 'body' && second === 'resources' && third) return `resources.${third}`;
  return first === 'body' ? (second ?? 'form') : first!;
}

/** A server refusal as messages per field; whatever names no field goes under `form`. */
export function serverFieldErrors(error: unknown): Record<string, string> {
  const issues = (error instanceof BorgApiError && (error.details as { issues?: unknown } | undefined)?.issues) || [];
  const out: Record<string, string> = {};
  if (Array.isArray(issues)) {
    for (const issue of issues as Array<{ path?: string; message?: string }>) {
      const field = fieldOfIssue(issue.path ?? 'body');
      out[field] ??= issue.message ?? 'is invalid';
    }
  }
  if (Object.keys(out).length === 0) out.form = errorMessage(error);
  return out;
}

interface InputFile {
  key: number;
  file: File;
  path: string;
  sent: number;
  info?: FileInfo;
  error?: string;
  abort: AbortController;
}

const input =
  'mt-1 block w-full rounded border border-slate-300 px-3 py-2 aria-[invalid=true]:border-red-500 aria-[invalid=true]:ring-1 aria-[invalid=true]:ring-red-500';

/**
 * The new-job form: every field of CreateJobRequest, input files uploaded as soon as they are
 * chosen (with a progress bar each). The request is checked with the protocol's schema before
 * it is sent (job-request.ts), and those messages, like the server's, are shown next to the
 * field they are about. It leaves sending the request to `onSubmit`.
 */
export function NewJobForm({
  onSubmit,
  upload = uploadFile,
  initial,
}: {
  onSubmit: (job: CreateJobRequest) => Promise<void>;
  upload?: UploadFn;
  /** The fields to start with (a job run again); absent: a blank form. */
  initial?: InitialJobValues;
}) {
  const [name, setName] = useState(initial?.name ?? '');
  const [type, setType] = useState<JobType>(initial?.type ?? 'shell');
  const [command, setCommand] = useState(initial?.command ?? '');
  const [image, setImage] = useState(initial?.image ?? '');
  const [user, setUser] = useState(initial?.user ?? '');
  const [env, setEnv] = useState(initial?.env ?? '');
  const [labels, setLabels] = useState(initial?.labels ?? '');
  const [priority, setPriority] = useState(initial?.priority ?? '0');
  const [attempts, setAttempts] = useState(initial?.attempts ?? '1');
  const [timeout, setTimeoutSeconds] = useState(initial?.timeout ?? '');
  const [arraySize, setArraySize] = useState(initial?.arraySize ?? '1');
  const [artifacts, setArtifacts] = useState(initial?.artifacts ?? '');
  const [files, setFiles] = useState<InputFile[]>([]);
  const [kept, setKept] = useState<JobFile[]>(initial?.files ?? []);
  const [secrets, setSecrets] = useState<Record<string, string>>(initial?.secrets ?? {});
  const [placement, setPlacement] = useState<PlacementValues>(initial?.placement ?? NO_PLACEMENT);
  const [retryRules, setRetryRules] = useState<RetryValues>(initial?.retryRules ?? NO_RETRY_RULES);
  const [refusal, setRefusal] = useState<Unsatisfiable | null>(null);
  const [queueAnyway, setQueueAnyway] = useState(false);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [busy, setBusy] = useState(false);
  const nextKey = useRef(0);
  const uploads = mayCall(useIdentity(), 'uploadFile');

  const patchFile = (key: number, patch: Partial<InputFile>) =>
    setFiles((old) => old.map((f) => (f.key === key ? { ...f, ...patch } : f)));

  const addFiles = (list: FileList | null) => {
    for (const file of Array.from(list ?? [])) {
      const entry: InputFile = { key: nextKey.current++, file, path: file.name, sent: 0, abort: new AbortController() };
      setFiles((old) => [...old, entry]);
      upload(file, (sent) => patchFile(entry.key, { sent }), entry.abort.signal).then(
        (info) => patchFile(entry.key, { info, sent: file.size }),
        (e: unknown) => {
          if ((e as Error).name !== 'AbortError') patchFile(entry.key, { error: errorMessage(e) });
        },
      );
    }
  };

  const removeFile = (entry: InputFile) => {
    entry.abort.abort();
    setFiles((old) => old.filter((f) => f.key !== entry.key));
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setErrors({});
    setRefusal(null);
    const built = buildJobRequest({
      name,
      type,
      command,
      image,
      user,
      env,
      labels,
      priority,
      attempts,
      timeout,
      arraySize,
      artifacts,
      files: [
        ...kept.map((f) => ({ path: f.path, fileId: f.file_id, failed: false })),
        ...files.map((f) => ({ path: f.path, fileId: f.info?.id, failed: f.error !== undefined })),
      ],
      secrets,
      ...placement,
      retryRules,
      // Asked to be told when no runner could ever take it, unless the user chose to queue it anyway.
      unsatisfiable: queueAnyway ? 'queue' : 'reject',
    });
    if ('problems' in built) return setErrors(built.problems);
    const { request } = built;
    setBusy(true);
    try {
      await onSubmit(request);
    } catch (e) {
      const unsatisfiable = unsatisfiableOf(e);
      if (unsatisfiable) setRefusal(unsatisfiable);
      else setErrors(serverFieldErrors(e));
    } finally {
      setBusy(false);
    }
  };

  const uploading = files.some((f) => !f.info && !f.error);
  const otherErrors = Object.entries(errors).filter(([field]) => !FIELDS.includes(field as never) || field === 'type');
  const mono = `${input} font-mono`;

  return (
    <form onSubmit={submit} noValidate className="max-w-3xl space-y-4 rounded-lg bg-white p-4 shadow sm:p-6">
      <Field label="Name" error={errors.name}>
        {(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} className={input} />}
      </Field>

      <fieldset className="text-sm">
        <legend className="font-medium">Type</legend>
        <div className="mt-1 flex flex-wrap gap-4">
          {JOB_TYPES.map((t) => (
            <label key={t} className="flex items-center gap-1">
              <input type="radio" name="type" value={t} checked={type === t} onChange={() => setType(t)} /> {t}
            </label>
          ))}
        </div>
      </fieldset>

      {type === 'container' && (
        <div className="grid gap-4 sm:grid-cols-[2fr_1fr]">
          <Field label="Image" error={errors.image} hint="e.g. docker.io/library/alpine:3.20">
            {(p) => <input {...p} value={image} onChange={(e) => setImage(e.target.value)} className={mono} />}
          </Field>
          <Field label="Run as user" error={errors.user} hint="uid or uid:gid; blank: the image's user">
            {(p) => (
              <input
                {...p}
                value={user}
                onChange={(e) => setUser(e.target.value)}
                placeholder="1000:1000"
                className={mono}
              />
            )}
          </Field>
        </div>
      )}

      <Field
        label={type === 'shell' ? 'Shell command' : 'Command (one argument per line)'}
        error={errors.command}
        hint={type === 'shell' ? 'Run by /bin/sh -c on the runner.' : 'The first line is the program; no shell.'}
      >
        {(p) => (
          <textarea {...p} value={command} onChange={(e) => setCommand(e.target.value)} rows={6} className={mono} />
        )}
      </Field>

      <div className="grid gap-4 sm:grid-cols-2">
        <Field label="Environment (KEY=value per line)" error={errors.env}>
          {(p) => <textarea {...p} value={env} onChange={(e) => setEnv(e.target.value)} rows={3} className={mono} />}
        </Field>
        <Field label="Required runner labels (key=value per line)" error={errors.labels}>
          {(p) => (
            <textarea {...p} value={labels} onChange={(e) => setLabels(e.target.value)} rows={3} className={mono} />
          )}
        </Field>
      </div>

      <div className="grid grid-cols-2 gap-4 sm:grid-cols-4">
        <Field label="Priority" error={errors.priority} hint="-1000 to 1000; higher runs first">
          {(p) => (
            <input
              {...p}
              type="number"
              value={priority}
              onChange={(e) => setPriority(e.target.value)}
              className={input}
            />
          )}
        </Field>
        <Field label="Attempts" error={errors.max_attempts}>
          {(p) => (
            <input
              {...p}
              type="number"
              min={1}
              value={attempts}
              onChange={(e) => setAttempts(e.target.value)}
              className={input}
            />
          )}
        </Field>
        <Field label="Timeout" error={errors.timeout_seconds} hint="e.g. 90s, 10m, 2h; blank: none">
          {(p) => (
            <input
              {...p}
              inputMode="text"
              spellCheck={false}
              placeholder="none"
              value={timeout}
              onChange={(e) => setTimeoutSeconds(e.target.value)}
              className={input}
            />
          )}
        </Field>
        <Field label="Array size" error={errors.array_size} hint="one task per element">
          {(p) => (
            <input
              {...p}
              type="number"
              min={1}
              value={arraySize}
              onChange={(e) => setArraySize(e.target.value)}
              className={input}
            />
          )}
        </Field>
      </div>

      <PlacementFields
        values={placement}
        onChange={(patch) => setPlacement((old) => ({ ...old, ...patch }))}
        errors={errors}
        inputClass={input}
      />

      <RetryFields
        values={retryRules}
        onChange={(patch) => setRetryRules((old) => ({ ...old, ...patch }))}
        errors={errors}
        inputClass={input}
      />

      <Field
        label="Artifacts (one glob per line)"
        error={errors.artifacts}
        hint="Files matching these, relative to the work directory, are kept when a task ends."
      >
        {(p) => (
          <textarea {...p} value={artifacts} onChange={(e) => setArtifacts(e.target.value)} rows={2} className={mono} />
        )}
      </Field>

      <Field
        label="Input files"
        error={errors.files}
        hint={uploads.allowed ? "Uploaded now; placed in each task's work directory." : uploads.reason}
      >
        {(p) => (
          <input
            {...p}
            type="file"
            multiple
            disabled={!uploads.allowed}
            onChange={(e) => addFiles(e.target.files)}
            className="mt-1 block text-sm file:mr-3 file:rounded file:border file:border-slate-300 file:bg-slate-50 file:px-3 file:py-1 file:hover:bg-slate-100"
          />
        )}
      </Field>
      <KeptFiles files={kept} onChange={setKept} />
      <KeptSecrets secrets={secrets} onChange={setSecrets} />
      {files.length > 0 && (
        <ul className="space-y-2 text-sm">
          {files.map((f) => (
            <li key={f.key} data-testid="input-file" className="grid items-center gap-2 sm:grid-cols-[1fr_10rem_auto]">
              <label className="flex items-center gap-2">
                <span className="shrink-0 text-slate-500">path</span>
                <input
                  aria-label={`Path of ${f.file.name}`}
                  value={f.path}
                  onChange={(e) => patchFile(f.key, { path: e.target.value })}
                  className="w-full rounded border border-slate-300 px-2 py-1 font-mono"
                />
              </label>
              <span className="flex items-center gap-2">
                <progress
                  aria-label={`Upload of ${f.file.name}`}
                  max={Math.max(1, f.file.size)}
                  value={f.info ? Math.max(1, f.file.size) : f.sent}
                  className="w-full"
                />
                <span className="shrink-0 text-xs text-slate-600">
                  {f.error
                    ? 'failed'
                    : f.info
                      ? formatBytes(f.file.size)
                      : `${Math.floor((100 * f.sent) / Math.max(1, f.file.size))}%`}
                </span>
              </span>
              <button type="button" onClick={() => removeFile(f)} className="justify-self-start text-red-700 underline">
                Remove
              </button>
              {f.error && <p className="text-xs text-red-700 sm:col-span-3">{f.error}</p>}
            </li>
          ))}
        </ul>
      )}

      {otherErrors.length > 0 && (
        <div role="alert" className="rounded bg-red-50 px-3 py-2 text-sm text-red-800">
          {otherErrors.map(([field, message]) => (
            <p key={field}>{field === 'form' ? message : `${field}: ${message}`}</p>
          ))}
        </div>
      )}
      {refusal && <UnsatisfiableReport refusal={refusal} queueAnyway={queueAnyway} setQueueAnyway={setQueueAnyway} />}
      {Object.keys(errors).length > 0 && otherErrors.length === 0 && (
        <p role="alert" className="text-sm text-red-800">
          The job was not submitted: see the messages above.
        </p>
      )}
      <button
        type="submit"
        disabled={busy || uploading}
        className="rounded bg-blue-700 px-4 py-2 font-medium text-white disabled:opacity-50"
      >
        {busy ? 'Submitting…' : uploading ? 'Uploading…' : 'Submit job'}
      </button>
    </form>
  );
}
