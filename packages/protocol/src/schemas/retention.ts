import { z } from 'zod';

import { durationText, parseDurationMs } from '../duration.ts';

/** The longest retention a job may ask for; past that, pin it. */
export const MAX_RETENTION_DAYS = 36_500;

/**
 * How long a job is kept after it ends ("30d", "12h", "90s"), replacing the server's
 * BORG_RETENTION_JOBS for it. Whole seconds, at least one.
 */
export const Retention = durationText(MAX_RETENTION_DAYS * 86_400_000, `${MAX_RETENTION_DAYS}d`).refine(
  (text) => (parseDurationMs(text) ?? 0) >= 1000,
  'at least 1s',
);

/** Keep the newest N jobs of this name whatever their age. */
export const KeepLast = z.number().int().min(1).max(10_000);

/** A retention as stored: whole seconds. */
export function retentionSeconds(text: string): number {
  return Math.floor(parseDurationMs(text)! / 1000);
}
