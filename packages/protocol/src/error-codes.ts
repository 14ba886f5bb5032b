import { z } from 'zod';

/**
 * Every failure the mothership reports, with its HTTP status. Clients branch on the code: two
 * codes can share a status (`STALE_TASK` and `ILLEGAL_TRANSITION` are both 409) and mean
 * different things to the caller.
 */
export const ERROR_STATUS = {
  VALIDATION_FAILED: 400,
  INVALID_JSON: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  JOB_NOT_FOUND: 404,
  TASK_NOT_FOUND: 404,
  RUNNER_NOT_FOUND: 404,
  FILE_NOT_FOUND: 404,
  TOKEN_NOT_FOUND: 404,
  SECRET_NOT_FOUND: 404,
  WEBHOOK_NOT_FOUND: 404,
  SCHEDULE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  ILLEGAL_TRANSITION: 409,
  STALE_TASK: 409,
  LOG_SEQUENCE_GAP: 409,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  /** No runner the mothership knows could ever take the job; `details.runners` says what each lacks. */
  UNSATISFIABLE: 422,
  UPGRADE_REQUIRED: 426,
  HEADERS_TOO_LARGE: 431,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  DATABASE_UNAVAILABLE: 503,
  /** A serialization failure or deadlock between two requests: nothing was written; send it again. */
  DATABASE_CONFLICT: 503,
  /** The mothership sheds long-polls while its database connections are all taken: come back after Retry-After. */
  OVERLOADED: 503,
  INSUFFICIENT_STORAGE: 507,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ErrorCode = z.enum(Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]]);

/**
 * Codes a client gives a failure that carried no Borg error body: `UNEXPECTED_RESPONSE` for a
 * non-2xx answer from something else on the way (a proxy's 502, a load balancer's HTML page),
 * `BAD_RESPONSE` for a 2xx answer that does not match the route's schema, `REQUEST_FAILED` for
 * a request that got no answer at all.
 */
export type ClientErrorCode = 'UNEXPECTED_RESPONSE' | 'BAD_RESPONSE' | 'REQUEST_FAILED';

/** The server's answers that mean "nothing happened; the same request may succeed later". */
const RETRYABLE_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'REQUEST_TIMEOUT',
  'RATE_LIMITED',
  'INTERNAL',
  'DATABASE_UNAVAILABLE',
  'DATABASE_CONFLICT',
  'OVERLOADED',
  'INSUFFICIENT_STORAGE',
]);

/**
 * Whether a failed request may be sent again as it is. A Borg error says so by its code; an
 * answer from something in between (no Borg body) is judged by its status: 5xx, 429 and 408
 * are the ones a proxy gives while the mothership restarts or sheds load.
 */
export function isRetryableError(code: ErrorCode | ClientErrorCode, status: number): boolean {
  if (code === 'UNEXPECTED_RESPONSE') return status >= 500 || status === 429 || status === 408;
  return RETRYABLE_CODES.has(code);
}

/** One error shape for every failure: `{"error": {"code", "message", "details"}}`. */
export const ErrorBody = z.object({
  error: z.object({
    code: ErrorCode,
    message: z.string(),
    details: z.unknown().optional(),
  }),
});
export type ErrorBody = z.infer<typeof ErrorBody>;
