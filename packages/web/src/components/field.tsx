import { type ReactNode, useId } from 'react';

/** The props a field gives its control, so the label, hint and error reach screen readers. */
export interface FieldControlProps {
  id: string;
  'aria-invalid'?: true;
  'aria-describedby'?: string;
}

/** A labelled form control with an optional hint and its error under it, tied together for screen readers. */
export function Field({
  label,
  hint,
  error,
  children,
}: {
  label: string;
  hint?: ReactNode;
  error?: string;
  children: (props: FieldControlProps) => ReactNode;
}) {
  const id = useId();
  const described = [error ? `${id}-error` : '', hint ? `${id}-hint` : ''].filter(Boolean).join(' ');
  return (
    <div className="block text-sm font-medium">
      <label htmlFor={id}>{label}</label>
      {children({ id, 'aria-invalid': error ? true : undefined, 'aria-describedby': described || undefined })}
      {hint && (
        <p id={`${id}-hint`} className="mt-1 text-xs font-normal text-slate-500">
          {hint}
        </p>
      )}
      {error && (
        <p id={`${id}-error`} data-testid="field-error" className="mt-1 text-xs font-normal text-red-700">
          {error}
        </p>
      )}
    </div>
  );
}
