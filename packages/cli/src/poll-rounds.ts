import { BorgApiError } from '@borg/protocol';

import type { LiveEvents } from './live-events.ts';

/** REST rounds while the WebSocket is up (a safety net) and while it is not (the only source). */
const POLL_WITH_EVENTS_MS = 2000;
const POLL_WITHOUT_EVENTS_MS = 500;
/** How long the mothership may stay unreachable (a restart) before following gives up. */
const GIVE_UP_AFTER_MS = 60_000;

/**
 * The REST rounds of a follower (`logs -f`, `submit --follow`, `run --follow`): `round` until it
 * returns a result, sleeping `interval()` between rounds unless woken (a WebSocket event that
 * calls for a round now). A mothership restart or a 503 is waited out for up to a minute;
 * anything else (404, 401) ends it.
 */
export async function pollRounds<T>(
  round: () => Promise<T | undefined>,
  interval: () => number,
  waker: Waker,
): Promise<T> {
  let failingSince: number | undefined;
  for (;;) {
    try {
      const result = await round();
      failingSince = undefined;
      if (result !== undefined) return result;
    } catch (error) {
      if (!isTransient(error)) throw error;
      failingSince ??= Date.now();
      if (Date.now() - failingSince > GIVE_UP_AFTER_MS) throw error;
    }
    await waker.sleep(interval());
  }
}

/**
 * Connects `live` and subscribes `topics`, then runs `round` (pollRounds) every 2 s while the
 * WebSocket is up and every 0.5 s while it is not (and at once when `live` may have missed
 * events), until it returns a result; closes `live` then.
 */
export async function followLive<T>(
  live: LiveEvents,
  topics: string[],
  round: () => Promise<T | undefined>,
  waker: Waker,
): Promise<T> {
  // Events missed (a topic the server could not resume after a reconnect): a REST round now.
  live.onBehind = () => waker.poke();
  await live.connect();
  live.subscribe(topics);
  try {
    return await pollRounds(round, () => (live.connected ? POLL_WITH_EVENTS_MS : POLL_WITHOUT_EVENTS_MS), waker);
  } finally {
    live.close();
  }
}

/** A sleep that `poke()` cuts short; a poke while no sleep is running skips the next one. */
export class Waker {
  private wake: (() => void) | undefined;
  private poked = false;

  poke(): void {
    if (this.wake) this.wake();
    else this.poked = true;
  }

  sleep(ms: number): Promise<void> {
    if (this.poked) {
      this.poked = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}

function isTransient(error: unknown): boolean {
  if (error instanceof BorgApiError) return error.retryable;
  return error instanceof TypeError && error.message === 'fetch failed';
}
