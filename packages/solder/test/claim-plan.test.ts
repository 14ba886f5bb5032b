import { describe, expect, test } from 'vitest';

import { type ClaimOutcome, type ClaimPlan, firstClaimPlan, nextClaimPlan } from '../src/claim-plan.ts';

/** The claim plan after the claims that met `outcomes`, one after another. */
function planAfter(outcomes: ClaimOutcome[], longPollSeconds = 30): Pick<ClaimPlan, 'waitSeconds' | 'pauseMs'> {
  let plan = firstClaimPlan(longPollSeconds);
  for (const outcome of outcomes) plan = nextClaimPlan(plan, outcome, longPollSeconds);
  return { waitSeconds: plan.waitSeconds, pauseMs: plan.pauseMs };
}

const times = (n: number, outcome: ClaimOutcome): ClaimOutcome[] => Array.from({ length: n }, () => outcome);

// What a claim can meet, with --long-poll 30.
const answered: ClaimOutcome = { kind: 'answered' }; // 200: tasks or cancels
const heldEmpty: ClaimOutcome = { kind: 'empty', heldMs: 30_000 }; // 204 when the wait ran out
const quickEmpty: ClaimOutcome = { kind: 'empty', heldMs: 20 }; // 204 long before the wait was up
const polledEmpty: ClaimOutcome = { kind: 'empty', heldMs: 5 }; // 204 to a poll (wait=0)
const interrupted: ClaimOutcome = { kind: 'interrupted' }; // a listen-only claim cut short by a freed slot
const failed: ClaimOutcome = { kind: 'failed', backoffMs: 1_234 }; // an error, with the backoff chosen for it

const fallingBack = times(3, quickEmpty);

// The next claim.
const longPollAtOnce = { waitSeconds: 30, pauseMs: 0 };
const pollIn5s = { waitSeconds: 0, pauseMs: 5_000 };

describe('the claim plan: long-poll or poll next, and how long to pause before it', () => {
  test.each<[string, ClaimOutcome[], ReturnType<typeof planAfter>]>([
    ['the first claim is a long-poll, sent at once', [], longPollAtOnce],
    ['after tasks or cancels: long-poll again at once', [answered], longPollAtOnce],
    ['after an empty long-poll that was held for its wait: long-poll again at once', [heldEmpty], longPollAtOnce],
    ['after two quick empty long-polls: still long-poll', times(2, quickEmpty), longPollAtOnce],
    ['after three quick empty long-polls in a row: fall back to polling every 5 s', fallingBack, pollIn5s],
    [
      'a held long-poll between quick ones starts the count again',
      [quickEmpty, quickEmpty, heldEmpty, quickEmpty, quickEmpty],
      longPollAtOnce,
    ],
    [
      'a long-poll answered just under a quarter of its wait is quick',
      times(3, { kind: 'empty', heldMs: 7_499 }),
      pollIn5s,
    ],
    ['one answered at a quarter of its wait was held', times(3, { kind: 'empty', heldMs: 7_500 }), longPollAtOnce],
    ['tasks end a run of quick empties', [quickEmpty, quickEmpty, answered, quickEmpty], longPollAtOnce],
    ['in fallback, empty polls go on every 5 s', [...fallingBack, ...times(10, polledEmpty)], pollIn5s],
    [
      'in fallback, the 12th claim (about a minute in) is a long-poll again',
      [...fallingBack, ...times(11, polledEmpty)],
      { waitSeconds: 30, pauseMs: 5_000 },
    ],
    [
      'that long-poll held for its wait: long-polls are back',
      [...fallingBack, ...times(11, polledEmpty), heldEmpty],
      longPollAtOnce,
    ],
    ['that long-poll quick again: polling goes on', [...fallingBack, ...times(11, polledEmpty), quickEmpty], pollIn5s],
    [
      'in fallback, the 24th claim is a long-poll again',
      [...fallingBack, ...times(23, polledEmpty)],
      { waitSeconds: 30, pauseMs: 5_000 },
    ],
    ['in fallback, tasks end the fallback', [...fallingBack, polledEmpty, answered], longPollAtOnce],
    ['after a failure: pause for the backoff given, then long-poll', [failed], { waitSeconds: 30, pauseMs: 1_234 }],
    ['a failure is not a quick empty', [quickEmpty, quickEmpty, failed, failed], { waitSeconds: 30, pauseMs: 1_234 }],
    [
      'a failure in fallback: pause for the backoff, then poll',
      [...fallingBack, failed],
      { waitSeconds: 0, pauseMs: 1_234 },
    ],
    ['a listen-only claim cut short by a freed slot: long-poll again at once', [interrupted], longPollAtOnce],
    ['the same in fallback: poll again at once', [...fallingBack, interrupted], { waitSeconds: 0, pauseMs: 0 }],
  ])('%s', (_, outcomes, next) => {
    expect(planAfter(outcomes)).toEqual(next);
  });

  test('with --long-poll 0 every claim is a poll, sent at once: an answer to wait=0 says nothing about long-polls', () => {
    expect(planAfter([], 0)).toEqual({ waitSeconds: 0, pauseMs: 0 });
    expect(planAfter(times(20, polledEmpty), 0)).toEqual({ waitSeconds: 0, pauseMs: 0 });
  });
});
