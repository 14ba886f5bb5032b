import { type CreatedToken, CreateTokenRequest } from '@borg/protocol';
import { useQuery } from '@tanstack/react-query';
import { type FormEvent, useRef, useState } from 'react';

import { Field } from '../../components/field.tsx';
import { Link } from '../../components/link.tsx';
import { ErrorState } from '../../components/page-states.tsx';
import { api, errorMessage } from '../../lib/api.ts';
import { useIdentity } from '../../lib/identity.ts';
import { useTopic } from '../../lib/live.ts';
import { mayCall } from '../../lib/permissions.ts';
import { queryKeys } from '../../lib/query-keys.ts';
import {
  installLine,
  isPlainHttp,
  labelsRefused,
  parseAllowedLabels,
  parseRunnerLabels,
  singleValueLabels,
} from './install-line.ts';

/** How long the token registers runners; a runner that registered keeps its own token after that. */
const EXPIRY_CHOICES: ReadonlyArray<readonly [string, string]> = [
  ['3600', 'in 1 hour'],
  ['86400', 'in 1 day'],
  ['604800', 'in 7 days'],
  ['2592000', 'in 30 days'],
  ['', 'never'],
];
const DEFAULT_EXPIRY = '86400';

/** How often the runner list is fetched while waiting, besides the live `runners` topic. */
const WAIT_POLL_MS = 5_000;

const input = 'mt-1 block w-full rounded border border-slate-300 px-3 py-2 aria-[invalid=true]:border-red-500';
const mono = `${input} font-mono`;
const button =
  'rounded border border-slate-300 bg-white px-3 py-1.5 text-sm hover:bg-slate-100 disabled:opacity-50 focus-visible:outline-2 focus-visible:outline-blue-600';

function today(): string {
  const d = new Date();
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
}

/**
 * `/runners/new`, for admins (the route table's access word for createToken): a registration
 * token for new runners, then the one line that installs the solder on a worker with it.
 */
export function AddRunnerPage() {
  const allowed = mayCall(useIdentity(), 'createToken');
  return (
    <section className="max-w-3xl space-y-4">
      <p className="text-sm">
        <Link to="/runners">← Runners</Link>
      </p>
      <h1 className="text-xl font-semibold">Add a runner</h1>
      {allowed.allowed ? (
        <AddRunner />
      ) : (
        <p role="status" className="rounded bg-amber-50 px-3 py-2 text-sm text-amber-900">
          This token cannot add runners: that takes a registration token, which only an admin creates. {allowed.reason}.
        </p>
      )}
    </section>
  );
}

type TokenField = 'name' | 'max_uses' | 'allowed_labels' | 'expires_in_seconds' | 'form';

function AddRunner() {
  const [name, setName] = useState(() => `runners added ${today()}`);
  const [maxUses, setMaxUses] = useState('');
  const [allowedText, setAllowedText] = useState('');
  const [expiry, setExpiry] = useState(DEFAULT_EXPIRY);
  // Null while the admin has not typed here: then it follows the allowed labels' single values.
  const [runnerLabelsText, setRunnerLabelsText] = useState<string | null>(null);
  const [insecure, setInsecure] = useState(false);
  // The token lives in this state only: never in the query cache, storage or the URL, so it is
  // gone when the page is left.
  const [created, setCreated] = useState<CreatedToken | null>(null);
  const [pending, setPending] = useState(false);
  const [errors, setErrors] = useState<Partial<Record<TokenField, string>>>({});

  const allowedLabels = parseAllowedLabels(allowedText);
  const runnerText = runnerLabelsText ?? singleValueLabels(allowedLabels.value);
  const runnerLabels = parseRunnerLabels(runnerText);
  // Once the token exists its own allowed labels are what the mothership applies.
  const refused = runnerLabels.value
    ? labelsRefused(runnerLabels.value, created ? (created.allowed_labels ?? undefined) : allowedLabels.value)
    : [];
  const origin = window.location.origin;

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const found: Partial<Record<TokenField, string>> = {};
    if (allowedLabels.error) found.allowed_labels = allowedLabels.error;
    const uses = maxUses.trim() === '' ? undefined : Number(maxUses);
    const request: CreateTokenRequest = {
      name: name.trim(),
      kind: 'registration',
      max_uses: uses,
      allowed_labels: allowedLabels.value,
      expires_in_seconds: expiry === '' ? undefined : Number(expiry),
    };
    const checked = CreateTokenRequest.safeParse(request);
    if (!checked.success) {
      for (const issue of checked.error.issues) {
        const field = String(issue.path[0] ?? 'form') as TokenField;
        found[field] ??=
          field === 'max_uses'
            ? 'a whole number from 1 to 1000000, or blank for no limit'
            : field === 'name'
              ? 'the token needs a name'
              : issue.message;
      }
    }
    setErrors(found);
    if (Object.keys(found).length > 0) return;
    setPending(true);
    try {
      setCreated(await api().createToken(request));
    } catch (e) {
      setErrors({ form: errorMessage(e) });
    } finally {
      setPending(false);
    }
  };

  return (
    <>
      <p className="text-sm">
        A worker machine becomes a runner by running one line: it installs the solder (Borg&apos;s agent) and registers
        it with this mothership using a registration token. The worker needs <strong>Node.js 20.19 or later</strong> and
        nothing else of Borg.
      </p>

      <form onSubmit={(e) => void submit(e)} noValidate className="space-y-4 rounded-lg bg-white p-4 shadow sm:p-6">
        <h2 className="font-semibold">1. Create a registration token</h2>
        <fieldset disabled={created !== null || pending} className="space-y-4">
          <Field label="Token name" error={errors.name} hint="Shown in the token list and the audit log.">
            {(p) => <input {...p} value={name} onChange={(e) => setName(e.target.value)} className={input} />}
          </Field>
          <div className="grid gap-4 sm:grid-cols-2">
            <Field label="Runners it may register" error={errors.max_uses} hint="Blank: no limit.">
              {(p) => (
                <input
                  {...p}
                  type="number"
                  min={1}
                  step={1}
                  inputMode="numeric"
                  value={maxUses}
                  onChange={(e) => setMaxUses(e.target.value)}
                  className={input}
                />
              )}
            </Field>
            <Field
              label="Expires"
              error={errors.expires_in_seconds}
              hint="Registered runners keep working after it expires."
            >
              {(p) => (
                <select {...p} value={expiry} onChange={(e) => setExpiry(e.target.value)} className={input}>
                  {EXPIRY_CHOICES.map(([value, label]) => (
                    <option key={value} value={value}>
                      {label}
                    </option>
                  ))}
                </select>
              )}
            </Field>
          </div>
          <Field
            label="Allowed labels"
            error={errors.allowed_labels ?? allowedLabels.error}
            hint={
              <>
                key=value, separated by commas or lines; a key given twice allows both values, the value <code>*</code>{' '}
                any value. Blank: runners may carry any labels. Otherwise a runner may carry only these (and{' '}
                <code>os</code>, <code>arch</code>, <code>gpu=false</code>).
              </>
            }
          >
            {(p) => (
              <textarea
                {...p}
                rows={2}
                placeholder="pool=gpu, zone=a, zone=b"
                value={allowedText}
                onChange={(e) => setAllowedText(e.target.value)}
                className={mono}
              />
            )}
          </Field>
        </fieldset>
        {errors.form && (
          <p role="alert" className="text-sm text-red-700">
            {errors.form}
          </p>
        )}
        {created ? (
          <button
            type="button"
            className={button}
            onClick={() => {
              // Forgets this token (it keeps working until it expires or is revoked).
              setCreated(null);
              setName(`runners added ${today()}`);
            }}
          >
            Create another token
          </button>
        ) : (
          <button
            type="submit"
            disabled={pending}
            className="rounded bg-blue-700 px-4 py-2 text-sm font-medium text-white hover:bg-blue-800 disabled:opacity-50 focus-visible:outline-2 focus-visible:outline-blue-600"
          >
            {pending ? 'Creating…' : 'Create registration token'}
          </button>
        )}
      </form>

      <div className="space-y-4 rounded-lg bg-white p-4 shadow sm:p-6">
        <h2 className="font-semibold">2. Run this on the worker</h2>
        <Field
          label="Labels for this runner"
          error={runnerLabels.error}
          hint="key=value, separated by commas; jobs that require labels go to runners that carry them. Blank: none."
        >
          {(p) => (
            <input
              {...p}
              value={runnerText}
              onChange={(e) => setRunnerLabelsText(e.target.value)}
              placeholder="pool=gpu"
              className={mono}
            />
          )}
        </Field>
        {refused.length > 0 && (
          <p className="text-sm text-amber-800">
            The token does not allow {refused.join(', ')}: the mothership would refuse this runner.
          </p>
        )}
        {isPlainHttp(origin) && (
          <div className="rounded bg-amber-50 px-3 py-2 text-sm text-amber-900">
            <p>
              This dashboard is served over plain http. The solder refuses a plain-http mothership on another machine
              unless the line has <code>--insecure</code>, and then the token crosses the network unencrypted; serve
              Borg over HTTPS if you can.
            </p>
            <label className="mt-1 flex items-center gap-2">
              <input type="checkbox" checked={insecure} onChange={(e) => setInsecure(e.target.checked)} />
              Add <code>--insecure</code>
            </label>
          </div>
        )}
        {created ? (
          <>
            <p role="status" className="rounded bg-amber-50 px-3 py-2 text-sm font-medium text-amber-900">
              The token is shown only once, here: it is not stored anywhere in the browser, and leaving this page
              forgets it. Copy the line now.
            </p>
            {runnerLabels.value && (
              <CopyLine
                key={installLine({ origin, token: created.token, labels: runnerLabels.value, insecure })}
                text={installLine({ origin, token: created.token, labels: runnerLabels.value, insecure })}
              />
            )}
            <RegistrationWatch since={created.created_at} maxUses={created.max_uses} />
          </>
        ) : (
          <p className="text-sm text-slate-500">The line appears here once the token is created.</p>
        )}
        <p className="text-sm text-slate-600">
          The script checks <code>node</code>, downloads the solder as one file and checks its sha256, installs it under{' '}
          <code>/opt/borg</code> (as root) or <code>~/.local/share/borg</code> with its settings and the token in files
          only its user reads, and starts it as a systemd service where there is systemd; running it again upgrades in
          place. See docs/solder.md, &ldquo;Installing on a worker&rdquo;, for every path and flag.
        </p>
      </div>
    </>
  );
}

/** The line, ready to copy: to the clipboard where the browser allows it, else selected for Ctrl+C. */
function CopyLine({ text }: { text: string }) {
  const ref = useRef<HTMLElement>(null);
  const [done, setDone] = useState<'copied' | 'selected' | null>(null);
  const select = () => {
    const element = ref.current;
    const selection = window.getSelection();
    if (!element || !selection) return;
    const range = document.createRange();
    range.selectNodeContents(element);
    selection.removeAllRanges();
    selection.addRange(range);
    setDone('selected');
  };
  const copy = async () => {
    // navigator.clipboard exists only in a secure context (https or localhost).
    try {
      if (!navigator.clipboard) throw new Error('no clipboard');
      await navigator.clipboard.writeText(text);
      setDone('copied');
    } catch {
      select();
    }
  };
  return (
    <div className="space-y-2">
      <pre className="rounded bg-slate-900 p-3 text-sm break-all whitespace-pre-wrap text-slate-100">
        <code ref={ref} data-testid="install-line">
          {text}
        </code>
      </pre>
      <div className="flex items-center gap-3">
        <button type="button" className={button} onClick={() => void copy()}>
          Copy
        </button>
        <span aria-live="polite" className="text-sm text-slate-600">
          {done === 'copied' && 'Copied to the clipboard.'}
          {done === 'selected' && 'Selected: press Ctrl+C (⌘C) to copy.'}
        </span>
      </div>
    </div>
  );
}

/**
 * Whether the line has been run: the runner list, kept current by the live `runners` topic
 * (a registration publishes runner.updated) and fetched again every few seconds besides.
 * A heuristic: a runner created after the token is taken for one it registered (the runner
 * does not say which token registered it). Another token's runner registering meanwhile would
 * count too, and a machine that was already a runner keeps its old created_at, so it is not seen.
 */
function RegistrationWatch({ since, maxUses }: { since: string; maxUses: number | null }) {
  useTopic('runners');
  const runners = useQuery({
    queryKey: queryKeys.runners(),
    queryFn: () => api().listRunners({ limit: 500 }),
    refetchInterval: WAIT_POLL_MS,
  });
  const after = Date.parse(since);
  const fresh = (runners.data?.items ?? [])
    .filter((r) => Date.parse(r.created_at) >= after)
    .sort((a, b) => a.created_at.localeCompare(b.created_at));
  const waiting = maxUses === null || fresh.length < maxUses;
  return (
    <div data-testid="registration-status" aria-live="polite" className="space-y-1 text-sm">
      {fresh.map((r) => (
        <p key={r.id} className="text-green-800">
          ✓ Runner <Link to={`/runners/${r.id}`}>{r.name}</Link> registered
          {r.approved ? '.' : ', and awaits approval on its page before it gets work.'}
        </p>
      ))}
      {waiting && (
        <p className="text-slate-600">
          {fresh.length === 0 ? 'Waiting for the runner to register…' : 'Waiting for more runners to register…'}
        </p>
      )}
      {runners.error && <ErrorState error={runners.error} retry={() => void runners.refetch()} />}
    </div>
  );
}
