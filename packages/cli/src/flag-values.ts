import { formatDurationSeconds } from '@borg/protocol';

import { usageError } from './cli-error.ts';

/** For repeatable flags: commander calls this with each value and the list so far. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/**
 * `K=V` pairs into a record. With `fromEnv`, a bare `K` takes its value from this shell's
 * environment (as `docker run --env K` does), so secrets need not be typed on the command line.
 */
export function keyValues(
  pairs: string[] | undefined,
  flag: string,
  fromEnv?: NodeJS.ProcessEnv,
): Record<string, string> | undefined {
  if (!pairs || pairs.length === 0) return undefined;
  const record: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq === -1 && fromEnv) {
      const value = fromEnv[pair];
      if (value === undefined)
        throw usageError(`${flag} ${pair}: ${pair} is not set in this shell`, `give ${pair}=VALUE`);
      record[pair] = value;
      continue;
    }
    if (eq <= 0) throw usageError(`${flag} "${pair}" is not KEY=VALUE`, `e.g. ${flag} gpu=a100`);
    record[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return record;
}

export function integer(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    throw usageError(`${flag} "${value}" is not a whole number from ${min} to ${max}`);
  }
  return n;
}

/** A decimal number from min to max with at most three decimals: "2", "0.5". */
export function decimal(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+(\.\d{1,3})?$/.test(value.trim()) || n < min || n > max) {
    throw usageError(`${flag} "${value}" is not a number from ${min} to ${max} with at most three decimals`);
  }
  return n;
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** "90" or "90s", "5m", "1h30m", "2d" → seconds. */
export function durationSeconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return positive(Number(text), value, flag);
  const parts = [...text.matchAll(/(\d+)([smhd])/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== text) {
    throw usageError(`${flag} "${value}" is not a duration`, 'use seconds, or e.g. 90s, 5m, 1h30m, 2d');
  }
  return positive(
    parts.reduce((sum, [, n, unit]) => sum + Number(n) * UNIT_SECONDS[unit!]!, 0),
    value,
    flag,
  );
}

/** A retention flag (`30d`, `12h`, or seconds) as the API takes it: a duration text. */
export function retentionText(value: string | undefined, flag: string): string | undefined {
  const seconds = durationSeconds(value, flag);
  return seconds === undefined ? undefined : formatDurationSeconds(seconds);
}

function positive(seconds: number, value: string, flag: string): number {
  if (seconds < 1) throw usageError(`${flag} "${value}" must be at least one second`);
  return seconds;
}

/**
 * An ISO-8601 date or date-time ("2026-01-02", "2026-01-02T15:00", "2026-01-02T15:00:00Z") as
 * the instant the API takes; a time without an offset is this machine's local time.
 */
export function isoInstant(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  const time = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i.test(text)
    ? Date.parse(text.replace(' ', 'T'))
    : Number.NaN;
  if (Number.isNaN(time)) {
    throw usageError(
      `${flag} "${value}" is not an ISO-8601 time`,
      'e.g. 2026-01-02, 2026-01-02T15:00 or 2026-01-02T15:00:00Z',
    );
  }
  return new Date(time).toISOString();
}

export function regex(value: string | undefined, flag: string): RegExp | undefined {
  if (value === undefined) return undefined;
  try {
    return new RegExp(value);
  } catch (error) {
    throw usageError(`${flag} "${value}" is not a regular expression (${(error as Error).message})`);
  }
}
