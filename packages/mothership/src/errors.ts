import { ERROR_STATUS, type ErrorCode } from '@borg/protocol';

/**
 * A failure to report to the client. Services throw it; the HTTP layer turns it into
 * `{"error": {"code", "message", "details"}}` with the code's status from the protocol's table.
 */
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
