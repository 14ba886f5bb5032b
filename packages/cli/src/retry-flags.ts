import { type OnDisconnect, parseDurationMs, type RetryRules, signalName } from '@borg/protocol';

import { usageError } from './cli-error.ts';

/** `borg submit`'s retry and disconnect flags (see `borg submit --help`). */
export interface RetryFlags {
  retryOnExit?: string;
  retryOnSignal?: string;
  retryOnLost?: boolean;
  retryOnTimeout?: boolean;
  lostCounts?: boolean;
  retryBackoff?: string;
  onDisconnect?: string;
}

/**
 * The job's `retry` from the flags, or undefined when none is given (then --attempts alone keeps
 * the old rule: any failure retries). The number of attempts stays --attempts.
 */
export function retryRulesOf(flags: RetryFlags): RetryRules | undefined {
  const given =
    flags.retryOnExit !== undefined ||
    flags.retryOnSignal !== undefined ||
    flags.retryOnLost !== undefined ||
    flags.retryOnTimeout !== undefined ||
    flags.lostCounts !== undefined ||
    flags.retryBackoff !== undefined;
  if (!given) return undefined;
  return {
    on_exit_codes: flags.retryOnExit === undefined ? undefined : exitCodes(flags.retryOnExit),
    on_signals: flags.retryOnSignal === undefined ? undefined : signals(flags.retryOnSignal),
    on_lost: flags.retryOnLost,
    on_timeout: flags.retryOnTimeout,
    lost_counts: flags.lostCounts,
    backoff: flags.retryBackoff === undefined ? undefined : backoff(flags.retryBackoff),
  };
}

/** `--on-disconnect keep` or `--on-disconnect 30s` (stop after that long out of touch). */
export function onDisconnectOf(value: string | undefined): OnDisconnect | undefined {
  if (value === undefined) return undefined;
  if (value.trim() === 'keep') return { keep: true };
  if (parseDurationMs(value) === undefined) {
    throw usageError(`--on-disconnect "${value}" is not "keep" or a duration`, 'e.g. --on-disconnect 30s');
  }
  return { stop_after: value.trim() };
}

function exitCodes(value: string): number[] {
  const codes = value.split(',').map((part) => part.trim());
  if (codes.some((code) => !/^\d+$/.test(code) || Number(code) < 1 || Number(code) > 255)) {
    throw usageError(
      `--retry-on-exit "${value}" is not a list of exit codes from 1 to 255`,
      'e.g. --retry-on-exit 1,137',
    );
  }
  return codes.map(Number);
}

function signals(value: string): string[] {
  return value.split(',').map((part) => {
    const name = signalName(part);
    if (!name) throw usageError(`--retry-on-signal: "${part}" is not a signal`, 'e.g. --retry-on-signal KILL,TERM');
    return name;
  });
}

function backoff(value: string): { initial: string; max: string } {
  const [initial = '', max = initial] = value.split(',').map((part) => part.trim());
  if (parseDurationMs(initial) === undefined || parseDurationMs(max) === undefined) {
    throw usageError(`--retry-backoff "${value}" is not INITIAL[,MAX]`, 'e.g. --retry-backoff 10s,10m');
  }
  return { initial, max };
}
