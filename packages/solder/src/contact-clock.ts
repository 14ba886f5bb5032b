import { hasCode } from './retry.ts';

/**
 * How long this solder has been out of touch with the mothership, as the mothership would
 * judge it. The mothership calls a runner offline (and runs its tasks elsewhere) once it has
 * heard no heartbeat for its offline window, counted from the last heartbeat it received. So the
 * clock restarts at the moment a heartbeat (or registration) that succeeded was *sent*: the
 * mothership received it no earlier, so its window cannot end before ours.
 *
 * Two failures also restart it, because they prove the mothership is not running anything
 * elsewhere meanwhile (docs/job-lifecycle.md, "Cut off from the mothership"):
 * - a refused connection: nothing listens at the mothership's address, so it is down; a
 *   mothership that starts waits a whole window before it calls anyone offline;
 * - `503 DATABASE_UNAVAILABLE`: the mothership is up but its database is not; after a database
 *   failure it too waits a whole window before it reaps.
 * A timeout, an unreachable network, or any other answer (a proxy's 502, a 429) does not.
 */
export class ContactClock {
  private last = performance.now();
  /** The mothership's offline window (from the registration's or a heartbeat's answer). */
  offlineAfterMs: number;

  constructor(offlineAfterMs: number) {
    this.offlineAfterMs = offlineAfterMs;
  }

  /** A call sent at `sentAt` (performance.now()) was answered, or failed in a way that proves the mothership waits. */
  touched(sentAt: number): void {
    if (sentAt > this.last) this.last = sentAt;
  }

  /** Milliseconds since the last contact. */
  get outOfTouchMs(): number {
    return performance.now() - this.last;
  }

  /** Whether a failed call still counts as contact (see the class comment). */
  static provesMothershipWaits(error: unknown): boolean {
    return hasCode(error, 'DATABASE_UNAVAILABLE') || causeCode(error) === 'ECONNREFUSED';
  }
}

/** The system error code somewhere in an error's cause chain (fetch wraps it: TypeError → cause). */
function causeCode(error: unknown): string | undefined {
  for (let e = error, depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('E')) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
