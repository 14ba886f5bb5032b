import { z } from 'zod';

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * A duration as people write it: "500ms", "10s", "10m", "2h", "1h30m", "2d". Each part is a whole
 * number and a unit; a bare number is refused (seconds or milliseconds would be a guess).
 * Undefined when the text is not a duration.
 */
export function parseDurationMs(text: string): number | undefined {
  const trimmed = text.trim();
  const parts = [...trimmed.matchAll(/(\d{1,9})(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== trimmed) return undefined;
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * UNIT_MS[unit!]!, 0);
}

/** A duration in the API: text such as "10s" or "1h30m", at most `maxMs` long. */
export function durationText(maxMs: number, maxLabel: string) {
  return z
    .string()
    .max(32)
    .refine((text) => parseDurationMs(text) !== undefined, 'a duration is a number and a unit: 500ms, 10s, 10m, 2h, 1d')
    .refine((text) => (parseDurationMs(text) ?? 0) <= maxMs, `at most ${maxLabel}`);
}

/** A whole number of seconds as people write it, largest units first: 90 → "1m30s", 2592000 → "30d". */
export function formatDurationSeconds(seconds: number): string {
  if (seconds <= 0) return '0s';
  const units: Array<[string, number]> = [
    ['d', 86_400],
    ['h', 3_600],
    ['m', 60],
    ['s', 1],
  ];
  let rest = Math.round(seconds);
  let text = '';
  for (const [unit, size] of units) {
    const count = Math.floor(rest / size);
    if (count > 0) text += `${count}${unit}`;
    rest -= count * size;
  }
  return text;
}
