import { useSyncExternalStore } from 'react';

/**
 * One clock for the whole page: every countdown and running duration reads the same second, and
 * a list of 500 runners keeps one timer, not 500. It ticks only while something shows it.
 */
const listeners = new Set<() => void>();
let now = Date.now();
let timer: ReturnType<typeof setInterval> | null = null;

function subscribe(listener: () => void): () => void {
  listeners.add(listener);
  if (!timer) {
    now = Date.now();
    timer = setInterval(() => {
      now = Date.now();
      for (const l of listeners) l();
    }, 1000);
  }
  return () => {
    listeners.delete(listener);
    if (listeners.size === 0 && timer) {
      clearInterval(timer);
      timer = null;
    }
  };
}

/** The current time, refreshed every second while the component is mounted (countdowns). */
export function useNow(): number {
  return useSyncExternalStore(subscribe, () => now);
}
