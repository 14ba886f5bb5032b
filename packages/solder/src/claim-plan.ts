/**
 * How the claim loop paces itself, as a pure function of what its last claim met.
 *
 * A claim is a long-poll (`wait` = --long-poll seconds) while the mothership holds requests. A
 * mothership that answers an empty long-poll long before its wait is up does not hold them (an
 * old server, a proxy that cuts idle requests): after three such answers in a row the solder
 * falls back to polling (`wait=0`) every 5 s. In fallback, every 12th claim (about once a
 * minute) is a long-poll again, so a mothership that was restarted, or moved behind another
 * proxy, gets long-polls back as soon as it holds one; any answer (tasks or cancels), or an
 * empty long-poll that was held, ends the fallback.
 */
export interface ClaimPlan {
  /** The `wait` of the next claim, in seconds: the long-poll, or 0 to poll. */
  waitSeconds: number;
  /** How long to pause before sending it. */
  pauseMs: number;
  /** Empty long-polls in a row answered long before their wait was up. */
  quickEmpties: number;
  /** Claims sent since the first fallback; never reset, so every 12th is a long-poll. */
  fallbackPolls: number;
}

/** What the last claim met. */
export type ClaimOutcome =
  /** 200: tasks, or cancels for tasks running here. */
  | { kind: 'answered' }
  /** 204 after `heldMs`: nothing to do within the wait. */
  | { kind: 'empty'; heldMs: number }
  /** A listen-only claim cut short because a task ended and freed a slot. */
  | { kind: 'interrupted' }
  /** An error, with the backoff the caller chose for it (jittered, Retry-After honoured). */
  | { kind: 'failed'; backoffMs: number };

/** Polling interval while the mothership does not hold long-polls. */
export const FALLBACK_POLL_MS = 5_000;
/** Quick empty long-polls in a row that mean the mothership does not hold requests. */
const QUICK_EMPTIES_BEFORE_FALLBACK = 3;
/** In fallback, every this-many-th claim is a long-poll. */
const LONG_POLL_EVERY_N_FALLBACK_CLAIMS = 12;
/** An empty long-poll answered within this share of its wait was not held. */
const QUICK_SHARE_OF_WAIT = 1 / 4;

export function firstClaimPlan(longPollSeconds: number): ClaimPlan {
  return { waitSeconds: longPollSeconds, pauseMs: 0, quickEmpties: 0, fallbackPolls: 0 };
}

export function nextClaimPlan(last: ClaimPlan, outcome: ClaimOutcome, longPollSeconds: number): ClaimPlan {
  const quickEmpties = quickEmptiesAfter(last, outcome);
  const fallingBack = quickEmpties >= QUICK_EMPTIES_BEFORE_FALLBACK;
  let pauseMs = 0;
  if (outcome.kind === 'failed') pauseMs = outcome.backoffMs;
  else if (outcome.kind === 'empty' && fallingBack) pauseMs = FALLBACK_POLL_MS;
  if (!fallingBack) return { waitSeconds: longPollSeconds, pauseMs, quickEmpties, fallbackPolls: last.fallbackPolls };
  const fallbackPolls = last.fallbackPolls + 1;
  const longPollAgain = fallbackPolls % LONG_POLL_EVERY_N_FALLBACK_CLAIMS === 0;
  return { waitSeconds: longPollAgain ? longPollSeconds : 0, pauseMs, quickEmpties, fallbackPolls };
}

function quickEmptiesAfter(last: ClaimPlan, outcome: ClaimOutcome): number {
  switch (outcome.kind) {
    case 'answered':
      return 0;
    case 'empty':
      // A poll (wait=0) is always answered at once, so it says nothing about long-polls.
      if (last.waitSeconds === 0) return last.quickEmpties;
      return outcome.heldMs < last.waitSeconds * 1000 * QUICK_SHARE_OF_WAIT ? last.quickEmpties + 1 : 0;
    case 'interrupted':
    case 'failed':
      return last.quickEmpties;
  }
}
