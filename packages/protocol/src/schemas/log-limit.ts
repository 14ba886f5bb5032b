import { z } from 'zod';

import { parseByteSize } from '../byte-size.ts';

/** The smallest log limit a job may ask for: the head and tail (a quarter each) stay useful. */
export const MIN_LOG_LIMIT_BYTES = 4 * 1024;
export const MAX_LOG_LIMIT_BYTES = 64 * 1024 ** 3;

/** A task's log limit as a job asks for it: "256MiB" (KiB, MiB, GiB, KB, MB, GB; a bare number is bytes). */
export const LogLimit = z.string().superRefine((text, ctx) => {
  const bytes = parseByteSize(text);
  if (bytes === null) {
    ctx.addIssue({ code: 'custom', message: 'a size like "64MiB" (KiB, MiB, GiB, KB, MB, GB)' });
  } else if (bytes < MIN_LOG_LIMIT_BYTES || bytes > MAX_LOG_LIMIT_BYTES) {
    ctx.addIssue({ code: 'custom', message: 'between 4KiB and 64GiB' });
  }
});

/** Past the limit: `truncate` keeps the head and the tail and drops the middle (the default); `fail` fails the task. */
export const LOG_OVERFLOW_POLICIES = ['truncate', 'fail'] as const;
export const LogOverflow = z.enum(LOG_OVERFLOW_POLICIES);
export type LogOverflow = z.infer<typeof LogOverflow>;
