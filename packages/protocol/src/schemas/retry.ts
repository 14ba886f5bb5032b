import { z } from 'zod';

import { durationText, parseDurationMs } from '../duration.ts';
import { SIGNAL_NAMES, signalName } from '../signals.ts';

export const MAX_ATTEMPTS = 100;

/**
 * How many times an element may be retried after attempts lost with their runner (or stopped by
 * it: the solder shut down, or cut off from the mothership) when lost attempts do not count: a
 * task that kills its machine must not be retried for ever.
 */
export const MAX_LOST_RETRIES = 10;

const Signal = z
  .string()
  .max(16)
  .transform((text, ctx) => {
    const name = signalName(text);
    if (!name) ctx.addIssue({ code: 'custom', message: `a signal is one of ${SIGNAL_NAMES.join(', ')}` });
    return name ?? text;
  });

export const RetryBackoff = z
  .strictObject({
    /** The wait before the first retry, doubled for each one after it. */
    initial: durationText(86_400_000, '1d'),
    /** The longest wait. */
    max: durationText(86_400_000, '1d'),
  })
  .refine(
    (backoff) => (parseDurationMs(backoff.initial) ?? 0) <= (parseDurationMs(backoff.max) ?? 0),
    'backoff.initial must not be longer than backoff.max',
  );

/**
 * A job's retry rules (`"retry": {…}` at submit). Without `on_exit_codes` and `on_signals` any
 * failure retries; with either, only the exit codes and signals they list. `on_lost` retries an
 * attempt lost with its runner, `on_timeout` one that ran past its timeout. A lost attempt does
 * not use up one of `max_attempts` unless `lost_counts` says so (at most MAX_LOST_RETRIES then).
 */
export const RetryRules = z.strictObject({
  max_attempts: z.number().int().min(1).max(MAX_ATTEMPTS).optional(),
  on_exit_codes: z.array(z.number().int().min(1).max(255)).min(1).max(255).optional(),
  on_signals: z.array(Signal).min(1).max(SIGNAL_NAMES.length).optional(),
  on_lost: z.boolean().default(true),
  on_timeout: z.boolean().default(false),
  lost_counts: z.boolean().default(false),
  backoff: RetryBackoff.optional(),
});
export type RetryRules = z.input<typeof RetryRules>;

/** A job's retry rules as stored and shown: every default filled in. */
export const JobRetry = z.object({
  max_attempts: z.number().int(),
  on_exit_codes: z.array(z.number().int()).nullable(),
  on_signals: z.array(z.string()).nullable(),
  on_lost: z.boolean(),
  on_timeout: z.boolean(),
  lost_counts: z.boolean(),
  /** Null: the mothership's own backoff (BORG_RETRY_BASE_DELAY_MS, BORG_RETRY_MAX_DELAY_MS). */
  backoff: z.object({ initial: z.string(), max: z.string() }).nullable(),
});
export type JobRetry = z.infer<typeof JobRetry>;

/** The rule that decided whether an attempt was retried. */
export const RETRY_RULE_NAMES = [
  'on_exit_codes',
  'on_signals',
  'on_lost',
  'on_timeout',
  /** No list given (or a job with only `max_attempts`): any failure retries. */
  'any_failure',
  /** It would have been retried, but every attempt is used. */
  'max_attempts',
  /** A lost attempt beyond MAX_LOST_RETRIES. */
  'lost_limit',
] as const;
export const RetryRuleName = z.enum(RETRY_RULE_NAMES);
export type RetryRuleName = z.infer<typeof RetryRuleName>;

/**
 * Why an attempt that did not succeed was retried or not, written when it ended:
 * `{"retried": true, "rule": "on_exit_codes", "counted": true, "message": "exit code 137 matched on_exit_codes"}`.
 * `counted`: whether it used up one of max_attempts (a lost attempt does not, by default).
 */
export const RetryDecision = z.object({
  retried: z.boolean(),
  rule: RetryRuleName,
  counted: z.boolean(),
  message: z.string(),
});
export type RetryDecision = z.infer<typeof RetryDecision>;

/**
 * What a job's task does when its solder cannot reach the mothership. Absent: the solder stops it
 * once it has been out of touch for longer than the mothership's offline window, so the copy the
 * mothership runs elsewhere is the only one. `stop_after`: after that long instead. `keep`: never
 * stop it for that; the first copy to succeed wins (see docs/job-lifecycle.md).
 */
export const OnDisconnect = z
  .strictObject({
    stop_after: durationText(7 * 86_400_000, '7d').optional(),
    keep: z.boolean().optional(),
  })
  .refine((policy) => !(policy.keep && policy.stop_after !== undefined), 'give stop_after or keep: true, not both');
export type OnDisconnect = z.input<typeof OnDisconnect>;

/** A job's disconnect policy as stored and shown. */
export const JobOnDisconnect = z.object({ stop_after: z.string().nullable(), keep: z.boolean() });
export type JobOnDisconnect = z.infer<typeof JobOnDisconnect>;
