/**
 * Every failure Borg reports, with its HTTP status. Services throw `BorgError`; the HTTP layer
 * turns it into `{"error": {"code", "message", "details"}}` and nothing else.
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
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  ILLEGAL_TRANSITION: 409,
  STALE_TASK: 409,
  LOG_SEQUENCE_GAP: 409,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UPGRADE_REQUIRED: 426,
  HEADERS_TOO_LARGE: 431,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  DATABASE_UNAVAILABLE: 503,
  /** A serialization failure or deadlock between two requests: nothing was written; send it again. */
  DATABASE_CONFLICT: 503,
  INSUFFICIENT_STORAGE: 507,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class BorgError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'BorgError';
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export const notFound = (what: 'job' | 'task' | 'runner' | 'file' | 'token', id: string) =>
  new BorgError(`${what.toUpperCase()}_NOT_FOUND` as ErrorCode, `${what} ${id} does not exist`);
