import type { JobOnDisconnect, JobRetry } from './schemas/retry.ts';

/**
 * A job's retry rules in a few words, as `borg jobs show` and the dashboard show them:
 * "on exit 1,137, SIGKILL, lost (not counted); backoff 10s-10m". Null rules: "any failure".
 */
export function describeRetryRules(retry: JobRetry | null): string {
  if (!retry) return 'on any failure';
  const on = [
    ...(retry.on_exit_codes ? [`exit ${retry.on_exit_codes.join(',')}`] : []),
    ...(retry.on_signals ?? []),
    ...(!retry.on_exit_codes && !retry.on_signals ? ['any failure'] : []),
    ...(retry.on_lost ? [retry.lost_counts ? 'lost' : 'lost (not counted)'] : []),
    ...(retry.on_timeout ? ['timeout'] : []),
  ];
  const backoff = retry.backoff ? `; backoff ${retry.backoff.initial}-${retry.backoff.max}` : '';
  return `on ${on.join(', ')}${backoff}`;
}

/** What a job's tasks do when their solder is cut off from the mothership, in words. */
export function describeDisconnectPolicy(policy: JobOnDisconnect | null): string {
  if (policy?.keep) return 'keep running';
  if (policy?.stop_after) return `stop after ${policy.stop_after}`;
  return 'stop after the offline window';
}
