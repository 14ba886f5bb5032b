import { type Job, type OnDisconnect, type RetryRules, signalName } from '@borg/protocol';

import { Field } from '../../components/field.tsx';
import type { FieldErrors } from './job-request.ts';

/** The new-job form's retry and disconnect fields, as typed. */
export interface RetryValues {
  /** Off: the job has only its number of attempts, and any failure retries while they last. */
  rules: boolean;
  /** Exit codes that retry, e.g. "1, 137"; blank: any exit code. */
  onExitCodes: string;
  /** Signals that retry, e.g. "KILL, SEGV"; blank: any signal (when no exit code is listed either). */
  onSignals: string;
  onLost: boolean;
  lostCounts: boolean;
  onTimeout: boolean;
  backoffInitial: string;
  backoffMax: string;
  disconnect: 'window' | 'stop_after' | 'keep';
  stopAfter: string;
}

export const NO_RETRY_RULES: RetryValues = {
  rules: false,
  onExitCodes: '',
  onSignals: '',
  onLost: true,
  lostCounts: false,
  onTimeout: false,
  backoffInitial: '',
  backoffMax: '',
  disconnect: 'window',
  stopAfter: '',
};

/** A job's rules as the fields hold them (Run again). */
export function retryValuesOf(job: Job): RetryValues {
  const retry = job.retry;
  return {
    rules: retry !== null,
    onExitCodes: retry?.on_exit_codes?.join(', ') ?? '',
    onSignals: retry?.on_signals?.map((s) => s.replace(/^SIG/, '')).join(', ') ?? '',
    onLost: retry?.on_lost ?? true,
    lostCounts: retry?.lost_counts ?? false,
    onTimeout: retry?.on_timeout ?? false,
    backoffInitial: retry?.backoff?.initial ?? '',
    backoffMax: retry?.backoff?.max ?? '',
    disconnect: job.on_disconnect?.keep ? 'keep' : job.on_disconnect?.stop_after ? 'stop_after' : 'window',
    stopAfter: job.on_disconnect?.stop_after ?? '',
  };
}

/**
 * The request's `retry` and `on_disconnect` from the fields. Text that is not a list of numbers or
 * signals is passed on as it is typed, for the schema to name the field it breaks.
 */
export function retryRequestOf(values: RetryValues): { retry?: RetryRules; on_disconnect?: OnDisconnect } {
  const list = (text: string) =>
    text
      .split(/[\s,]+/)
      .map((part) => part.trim())
      .filter((part) => part !== '');
  const codes = list(values.onExitCodes).map((code) => (/^\d+$/.test(code) ? Number(code) : NaN));
  const signals = list(values.onSignals).map((name) => signalName(name) ?? name);
  const initial = values.backoffInitial.trim();
  const max = values.backoffMax.trim() || initial;
  const retry: RetryRules | undefined = values.rules
    ? {
        on_exit_codes: codes.length > 0 ? codes : undefined,
        on_signals: signals.length > 0 ? signals : undefined,
        on_lost: values.onLost,
        lost_counts: values.onLost ? values.lostCounts : undefined,
        on_timeout: values.onTimeout,
        backoff: initial ? { initial, max } : undefined,
      }
    : undefined;
  const on_disconnect: OnDisconnect | undefined =
    values.disconnect === 'keep'
      ? { keep: true }
      : values.disconnect === 'stop_after'
        ? { stop_after: values.stopAfter.trim() }
        : undefined;
  return { ...(retry ? { retry } : {}), ...(on_disconnect ? { on_disconnect } : {}) };
}

/**
 * Which failures retry (exit codes, signals, lost attempts, timeouts), the wait between
 * attempts, and what a task does when its runner is cut off from the mothership.
 */
export function RetryFields({
  values,
  onChange,
  errors,
  inputClass,
}: {
  values: RetryValues;
  onChange: (patch: Partial<RetryValues>) => void;
  errors: FieldErrors;
  inputClass: string;
}) {
  const check = (key: 'onLost' | 'lostCounts' | 'onTimeout', label: string, disabled = false) => (
    <label className={`flex items-center gap-2 ${disabled ? 'text-slate-400' : ''}`}>
      <input
        type="checkbox"
        checked={values[key]}
        disabled={disabled}
        onChange={(e) => onChange({ [key]: e.target.checked })}
      />
      {label}
    </label>
  );
  return (
    <fieldset className="space-y-3 text-sm">
      <legend className="font-medium">Retries</legend>
      <label className="flex items-center gap-2">
        <input type="checkbox" checked={values.rules} onChange={(e) => onChange({ rules: e.target.checked })} />
        Retry rules (without them, any failure retries while attempts remain)
      </label>
      {values.rules && (
        <>
          <div className="grid gap-4 sm:grid-cols-2">
            <Field label="Retry on exit codes" hint="e.g. 1, 137; blank: any">
              {(p) => (
                <input
                  {...p}
                  value={values.onExitCodes}
                  onChange={(e) => onChange({ onExitCodes: e.target.value })}
                  className={inputClass}
                />
              )}
            </Field>
            <Field label="Retry on signals" hint="e.g. KILL, SEGV; blank: any">
              {(p) => (
                <input
                  {...p}
                  value={values.onSignals}
                  onChange={(e) => onChange({ onSignals: e.target.value })}
                  className={inputClass}
                />
              )}
            </Field>
          </div>
          <div className="space-y-1">
            {check('onLost', 'Retry attempts lost with their runner')}
            {check('lostCounts', 'A lost attempt uses up one of the attempts', !values.onLost)}
            {check('onTimeout', 'Retry attempts that time out')}
          </div>
          <div className="grid gap-4 sm:grid-cols-2">
            <Field label="First wait" hint="e.g. 10s; blank: the mothership's">
              {(p) => (
                <input
                  {...p}
                  value={values.backoffInitial}
                  onChange={(e) => onChange({ backoffInitial: e.target.value })}
                  className={inputClass}
                />
              )}
            </Field>
            <Field label="Longest wait" hint="doubling up to this, e.g. 10m">
              {(p) => (
                <input
                  {...p}
                  value={values.backoffMax}
                  onChange={(e) => onChange({ backoffMax: e.target.value })}
                  className={inputClass}
                />
              )}
            </Field>
          </div>
        </>
      )}
      {errors.retry && (
        <p data-testid="field-error" className="text-xs text-red-700">
          {errors.retry}
        </p>
      )}
      <div className="grid gap-4 sm:grid-cols-2">
        <Field
          label="When its runner is cut off"
          hint="from the mothership, while the task runs"
          error={errors.on_disconnect}
        >
          {(p) => (
            <select
              {...p}
              value={values.disconnect}
              onChange={(e) => onChange({ disconnect: e.target.value as RetryValues['disconnect'] })}
              className={inputClass}
            >
              <option value="window">Stop it once it runs elsewhere</option>
              <option value="stop_after">Stop it after…</option>
              <option value="keep">Keep it running; the first success wins</option>
            </select>
          )}
        </Field>
        {values.disconnect === 'stop_after' && (
          <Field label="Stop after" hint="e.g. 30s, 5m">
            {(p) => (
              <input
                {...p}
                value={values.stopAfter}
                onChange={(e) => onChange({ stopAfter: e.target.value })}
                className={inputClass}
              />
            )}
          </Field>
        )}
      </div>
    </fieldset>
  );
}
