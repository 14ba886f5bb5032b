import { useId, useState } from 'react';

/**
 * Copies text to the clipboard and says so. Where the page may not write the clipboard (plain
 * HTTP to another host), it shows the text selected in a box to copy by hand instead.
 */
export function CopyButton({
  text,
  label,
  note,
  className,
}: {
  text: () => string;
  label: string;
  /** Said after "Copied.": what the copy leaves out. */
  note?: string;
  className?: string;
}) {
  const [state, setState] = useState<'idle' | 'copied' | 'manual'>('idle');
  const [shown, setShown] = useState('');
  const boxId = useId();
  const copy = async () => {
    const value = text();
    setShown(value);
    try {
      await navigator.clipboard.writeText(value);
      setState('copied');
    } catch {
      setState('manual');
    }
  };
  return (
    <span className="inline-flex flex-col gap-1">
      <button type="button" onClick={() => void copy()} className={className}>
        {label}
      </button>
      <span role="status" className="text-xs text-slate-600">
        {state === 'copied' && `Copied.${note ? ` ${note}` : ''}`}
        {state === 'manual' && (
          <label htmlFor={boxId}>The clipboard is not available here: copy it from this box.</label>
        )}
      </span>
      {state === 'manual' && (
        <textarea
          id={boxId}
          readOnly
          value={shown}
          rows={3}
          ref={(el) => el?.select()}
          className="w-full max-w-xl rounded border border-slate-300 p-2 font-mono text-xs"
        />
      )}
    </span>
  );
}
