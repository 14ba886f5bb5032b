import { CreateJobRequest, type JobRetry, MAX_LOST_RETRIES, parseDurationMs } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { storedRetry } from '../src/jobs/job-retry-spec.ts';
import { backoffPolicyOf } from '../src/jobs/retry-backoff.ts';
import { type AttemptEnding, retryDecision } from '../src/jobs/retry-decision.ts';

/** The retry rule as a pure function (retry-decision.ts): rules, the ending, the element's history. */

const RULES: JobRetry = {
  max_attempts: 3,
  on_exit_codes: null,
  on_signals: null,
  on_lost: true,
  on_timeout: false,
  lost_counts: false,
  backoff: null,
};

const job = (retry: Partial<JobRetry> | null, max = retry?.max_attempts ?? 3) => ({
  max_attempts: max,
  retry: retry === null ? null : { ...RULES, max_attempts: max, ...retry },
});

function ended(attempt: number, status: AttemptEnding['status'], extra: Partial<AttemptEnding> = {}): AttemptEnding {
  return { attempt, status, exitCode: null, signal: null, reason: null, cancelRequested: false, ...extra };
}
const exit = (attempt: number, code: number) => ended(attempt, 'failed', { exitCode: code });
const lost = (attempt: number, reason = 'runner_lost') => ended(attempt, 'lost', { reason });

describe('retryDecision', () => {
  it('says nothing about successes, user cancels, or a failure of a one-attempt job without rules', () => {
    expect(retryDecision(job(RULES), ended(1, 'succeeded', { exitCode: 0 }), [])).toBeNull();
    expect(retryDecision(job(RULES), ended(1, 'cancelled', { cancelRequested: true }), [])).toBeNull();
    expect(retryDecision(job(null, 1), exit(1, 1), [])).toBeNull();
  });

  it('without rules keeps the old rule: any failure, lost and timed out included, while attempts remain, each counting', () => {
    expect(retryDecision(job(null, 2), lost(1), [])).toEqual({
      retried: true,
      rule: 'any_failure',
      counted: true,
      message: 'its runner was lost: any failure retries (1 of 2 attempts used)',
    });
    expect(retryDecision(job(null, 2), ended(2, 'timed_out'), [lost(1)])).toEqual({
      retried: false,
      rule: 'max_attempts',
      counted: true,
      message: 'timed out, and all 2 attempts are used',
    });
  });

  it('retries only the exit codes on_exit_codes lists, and says why not for the others', () => {
    const rules = job({ on_exit_codes: [1, 137] });
    expect(retryDecision(rules, exit(1, 137), [])).toEqual({
      retried: true,
      rule: 'on_exit_codes',
      counted: true,
      message: 'exit code 137 matched on_exit_codes (1 of 3 attempts used)',
    });
    expect(retryDecision(rules, exit(1, 2), [])).toEqual({
      retried: false,
      rule: 'on_exit_codes',
      counted: true,
      message: 'exit code 2 is not in on_exit_codes',
    });
    // A signal death is not an exit code; a failure before the process ran has neither.
    expect(retryDecision(rules, ended(1, 'failed', { signal: 'SIGKILL' }), [])).toMatchObject({
      retried: false,
      message: 'killed by SIGKILL: only the exit codes in on_exit_codes retry',
    });
    expect(retryDecision(rules, ended(1, 'failed'), [])).toMatchObject({ retried: false, rule: 'on_exit_codes' });
  });

  it('retries a process killed by a listed signal', () => {
    const rules = job({ on_signals: ['SIGKILL'] });
    expect(retryDecision(rules, ended(1, 'failed', { signal: 'SIGKILL' }), [])).toMatchObject({
      retried: true,
      rule: 'on_signals',
      message: 'killed by SIGKILL matched on_signals (1 of 3 attempts used)',
    });
    expect(retryDecision(rules, ended(1, 'failed', { signal: 'SIGTERM' }), [])).toMatchObject({
      retried: false,
      rule: 'on_signals',
      message: 'killed by SIGTERM, which is not in on_signals',
    });
    expect(retryDecision(rules, exit(1, 137), [])).toMatchObject({ retried: false, rule: 'on_signals' });
  });

  it('stops at max_attempts, counting only attempts that count', () => {
    const rules = job({ on_exit_codes: [1] });
    expect(retryDecision(rules, exit(3, 1), [exit(1, 1), exit(2, 1)])).toEqual({
      retried: false,
      rule: 'max_attempts',
      counted: true,
      message: 'exit code 1 matched on_exit_codes, but all 3 attempts are used',
    });
    // Two lost attempts before: attempt 4 is only the 2nd that counts.
    expect(retryDecision(rules, exit(4, 1), [exit(1, 1), lost(2), lost(3)])).toMatchObject({
      retried: true,
      message: 'exit code 1 matched on_exit_codes (2 of 3 attempts used)',
    });
  });

  it('does not count a lost attempt (or one its solder stopped) unless lost_counts, and bounds lost retries', () => {
    const rules = job({ max_attempts: 1 });
    expect(retryDecision(rules, lost(1), [])).toEqual({
      retried: true,
      rule: 'on_lost',
      counted: false,
      message: 'its runner was lost: on_lost retries it (not counted against max_attempts)',
    });
    const stopped = ended(1, 'cancelled', { reason: 'disconnected' });
    expect(retryDecision(rules, stopped, [])).toMatchObject({ retried: true, rule: 'on_lost', counted: false });

    const history = Array.from({ length: MAX_LOST_RETRIES }, (_, i) => lost(i + 1));
    expect(retryDecision(rules, lost(MAX_LOST_RETRIES + 1), history.slice(0, -1))).toMatchObject({ retried: true });
    expect(retryDecision(rules, lost(MAX_LOST_RETRIES + 1), history)).toEqual({
      retried: false,
      rule: 'lost_limit',
      counted: false,
      message: `lost ${MAX_LOST_RETRIES + 1} times (this time its runner was lost): a lost element is retried at most ${MAX_LOST_RETRIES} times`,
    });

    const counting = job({ max_attempts: 2, lost_counts: true });
    expect(retryDecision(counting, lost(1), [])).toMatchObject({ retried: true, counted: true });
    expect(retryDecision(counting, lost(2), [lost(1)])).toMatchObject({ retried: false, rule: 'max_attempts' });
    expect(retryDecision(job({ on_lost: false }), lost(1), [])).toEqual({
      retried: false,
      rule: 'on_lost',
      counted: false,
      message: 'its runner was lost, and on_lost is false',
    });
  });

  it('retries a timeout only with on_timeout', () => {
    expect(retryDecision(job({}), ended(1, 'timed_out'), [])).toMatchObject({
      retried: false,
      rule: 'on_timeout',
      message: 'timed out, and on_timeout is false',
    });
    expect(retryDecision(job({ on_timeout: true }), ended(1, 'timed_out'), [])).toMatchObject({
      retried: true,
      rule: 'on_timeout',
    });
  });
});

describe('retry rules at submit (protocol) and as stored', () => {
  const base = { name: 'r', command: 'true' };

  it('fills the defaults, takes signals by short name, and keeps max_attempts alone working', () => {
    const parsed = CreateJobRequest.parse({
      ...base,
      retry: {
        max_attempts: 3,
        on_exit_codes: [137, 1, 1],
        on_signals: ['kill'],
        backoff: { initial: '10s', max: '10m' },
      },
    });
    expect(parsed.max_attempts).toBe(3);
    expect(storedRetry(parsed)).toEqual({
      max_attempts: 3,
      on_exit_codes: [1, 137],
      on_signals: ['SIGKILL'],
      on_lost: true,
      on_timeout: false,
      lost_counts: false,
      backoff: { initial: '10s', max: '10m' },
    });
    const legacy = CreateJobRequest.parse({ ...base, max_attempts: 4 });
    expect(legacy.max_attempts).toBe(4);
    expect(storedRetry(legacy)).toBeNull();
    expect(CreateJobRequest.parse(base).max_attempts).toBe(1);
    expect(CreateJobRequest.parse({ ...base, max_attempts: 2, retry: { on_lost: false } }).max_attempts).toBe(2);
    expect(CreateJobRequest.parse({ ...base, max_attempts: 2, retry: { max_attempts: 2 } }).max_attempts).toBe(2);
  });

  it.each([
    [{ max_attempts: 2, retry: { max_attempts: 3 } }, 'max_attempts is 2 and retry.max_attempts 3'],
    [{ retry: { on_exit_codes: [0] } }, 'Too small'],
    [{ retry: { on_signals: ['SIGNOPE'] } }, 'a signal is one of SIGHUP'],
    [{ retry: { backoff: { initial: '10', max: '1m' } } }, 'a duration is a number and a unit'],
    [{ retry: { backoff: { initial: '2m', max: '1m' } } }, 'backoff.initial must not be longer than backoff.max'],
    [{ retry: { on_lost: true, when: 'always' } }, 'Unrecognized key'],
    [{ on_disconnect: { keep: true, stop_after: '30s' } }, 'not both'],
    [{ on_disconnect: { stop_after: '8d' } }, 'at most 7d'],
  ])('refuses %j', (extra, message) => {
    const result = CreateJobRequest.safeParse({ ...base, ...extra });
    expect(result.success).toBe(false);
    expect(JSON.stringify(result.error!.issues)).toContain(message);
  });

  it('reads durations and turns a job’s backoff into a policy', () => {
    expect(['500ms', '10s', '10m', '2h', '1h30m', '1d'].map(parseDurationMs)).toEqual([
      500, 10_000, 600_000, 7_200_000, 5_400_000, 86_400_000,
    ]);
    expect(['', '10', 's', '1x', '-1s', '1s 2s'].map(parseDurationMs)).toEqual(Array(6).fill(undefined));
    const fallback = { baseMs: 1, maxMs: 2 };
    expect(backoffPolicyOf(null, fallback)).toBe(fallback);
    expect(backoffPolicyOf({ ...RULES, backoff: { initial: '10s', max: '10m' } }, fallback)).toEqual({
      baseMs: 10_000,
      maxMs: 600_000,
    });
  });
});
