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
