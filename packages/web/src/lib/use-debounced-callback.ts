import { useCallback, useEffect, useRef } from 'react';

/** How long typing in a text filter must pause before the list is fetched for it. */
export const TYPING_PAUSE_MS = 300;

/**
 * A function that calls `fn` once calls to it have paused for `ms`, with the arguments of the
 * last call: typing into a filter makes one request, not one per key. The latest `fn` is the
 * one called, and a call still waiting when the component unmounts is dropped, so it cannot
 * act on a page that is gone.
 */
export function useDebouncedCallback<Args extends unknown[]>(
  fn: (...args: Args) => void,
  ms: number,
): (...args: Args) => void {
  const latest = useRef(fn);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => {
    latest.current = fn;
  });
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(
    (...args: Args) => {
      clearTimeout(timer.current);
      timer.current = setTimeout(() => latest.current(...args), ms);
    },
    [ms],
  );
}
