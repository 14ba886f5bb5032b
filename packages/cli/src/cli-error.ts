import { BorgApiError, type ErrorCode } from '@borg/protocol';

import { plainApiMessage } from './api-message.ts';

/**
 * The exit codes of the client commands (docs/cli.md). Each kind of failure has its own, so a
 * script can tell "the job failed" from "the mothership is down" without parsing messages.
 * `borg submit --follow` exits with the job's own exit code instead (see job-outcome.ts).
 */
export const ExitCode = {
  OK: 0,
  /** The job or task failed; also an unexpected error (a bug in borg). */
  FAILED: 1,
  /** A bad flag or argument, or input the mothership rejected as invalid (400). */
  USAGE: 2,
  /** No such job, task, runner, file, token or secret (404). */
  NOT_FOUND: 3,
  /** No token, or a token the mothership refuses (401) or that may not do this (403). */
  AUTH: 4,
  /** The mothership cannot be reached, or it failed (5xx). */
  UNAVAILABLE: 5,
  /** The request conflicts with the current state (409), e.g. cancelling a finished job. */
  CONFLICT: 6,
  /** A file transfer failed: a local file unreadable or unwritable, too large (413), a sha256 mismatch. */
  TRANSFER: 7,
  /** Interrupted by Ctrl-C (128 + SIGINT). */
  INTERRUPTED: 130,
} as const;

/**
 * A failure the user can act on: one line, `borg: <what happened>: <what to do>`, and an exit
 * code. Anything thrown that is not a CliError is a bug and says so.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'CliError';
  }

  get line(): string {
    return this.hint ? `borg: ${this.message}: ${this.hint}` : `borg: ${this.message}`;
  }
}

export const usageError = (message: string, hint?: string) => new CliError(message, ExitCode.USAGE, hint);

/** Where the client is pointed, for messages. */
export interface Target {
  addr: string;
  /** Where the token came from: 'BORG_TOKEN', 'profile "default"', or null when there is none. */
  tokenSource: string | null;
}

/** Turns whatever a command threw into a CliError with the right exit code and advice. */
export function toCliError(error: unknown, target: Target): CliError {
  if (error instanceof CliError) return error;
  if (error instanceof BorgApiError) return fromApiError(error, target);
  if (isNetworkError(error)) {
    return new CliError(
      `cannot reach ${target.addr} (${networkReason(error)})`,
      ExitCode.UNAVAILABLE,
      'is the mothership running? set BORG_ADDR or run `borg login URL`',
    );
  }
  const internal = new CliError(`internal error: ${(error as Error)?.message ?? String(error)}`, ExitCode.FAILED);
  internal.cause = error; // its stack is printed with BORG_DEBUG=1
  return internal;
}

type ErrorKind = 'usage' | 'auth' | 'forbidden' | 'not-found' | 'conflict' | 'too-large' | 'busy' | 'failed';

/** How the CLI treats each of the server's error codes (the compiler asks about every new one). */
const KIND_OF_CODE: Record<ErrorCode, ErrorKind> = {
  VALIDATION_FAILED: 'usage',
  INVALID_JSON: 'usage',
  UNSUPPORTED_MEDIA_TYPE: 'failed',
  METHOD_NOT_ALLOWED: 'failed',
  UPGRADE_REQUIRED: 'failed',
  HEADERS_TOO_LARGE: 'failed',
  REQUEST_TIMEOUT: 'failed',
  UNAUTHORIZED: 'auth',
  FORBIDDEN: 'forbidden',
  NOT_FOUND: 'not-found',
  JOB_NOT_FOUND: 'not-found',
  TASK_NOT_FOUND: 'not-found',
  RUNNER_NOT_FOUND: 'not-found',
  FILE_NOT_FOUND: 'not-found',
  TOKEN_NOT_FOUND: 'not-found',
  SECRET_NOT_FOUND: 'not-found',
  WEBHOOK_NOT_FOUND: 'not-found',
  SCHEDULE_NOT_FOUND: 'not-found',
  ILLEGAL_TRANSITION: 'conflict',
  STALE_TASK: 'conflict',
  LOG_SEQUENCE_GAP: 'conflict',
  CONFLICT: 'conflict',
  PAYLOAD_TOO_LARGE: 'too-large',
  UNSATISFIABLE: 'usage',
  RATE_LIMITED: 'busy',
  INTERNAL: 'busy',
  DATABASE_UNAVAILABLE: 'busy',
  DATABASE_CONFLICT: 'busy',
  OVERLOADED: 'busy',
  INSUFFICIENT_STORAGE: 'busy',
};

function kindOf(error: BorgApiError): ErrorKind {
  if (error.code in KIND_OF_CODE) return KIND_OF_CODE[error.code as ErrorCode];
  return error.retryable ? 'busy' : 'failed';
}

function fromApiError(error: BorgApiError, target: Target): CliError {
  const what = plainApiMessage(error.message);
  switch (kindOf(error)) {
    case 'usage':
      return new CliError(what, ExitCode.USAGE, 'see `borg <command> --help`');
    case 'auth':
      return new CliError(
        target.tokenSource
          ? `the mothership at ${target.addr} refused the token from ${target.tokenSource} (${what})`
          : `the mothership at ${target.addr} needs a token`,
        ExitCode.AUTH,
        'run `borg login URL` with a valid user token, or set BORG_TOKEN',
      );
    case 'forbidden':
      return new CliError(
        what,
        ExitCode.AUTH,
        /\brole\b/.test(what)
          ? 'ask an admin for a token with that role (`borg tokens create NAME --role ROLE`)'
          : 'use a user token (borg_usr_…), not a runner or registration token',
      );
    case 'not-found':
      return new CliError(what, ExitCode.NOT_FOUND, 'check the id (`borg jobs list`, `borg runners list`)');
    case 'conflict':
      return new CliError(what, ExitCode.CONFLICT, 'see its current state with `borg jobs show ID`');
    case 'too-large':
      return new CliError(what, ExitCode.TRANSFER, 'the mothership limits uploads with BORG_MAX_UPLOAD_BYTES');
    case 'busy':
      if (error.code === 'RATE_LIMITED') {
        return new CliError(what, ExitCode.UNAVAILABLE, 'the mothership is rate limiting: try again shortly');
      }
      return new CliError(
        `the mothership at ${target.addr} failed (${error.status} ${error.code}: ${what})`,
        ExitCode.UNAVAILABLE,
        'try again; if it persists, see the mothership log',
      );
    case 'failed':
      return new CliError(`${error.status} ${error.code}: ${what}`, ExitCode.FAILED);
  }
}

/** fetch() rejects with a TypeError whose `cause` holds the socket error (ECONNREFUSED, ENOTFOUND…). */
function isNetworkError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'TypeError' && error.message === 'fetch failed') return true;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && /^(ECONN|ENOTFOUND|EAI_|EHOSTUNREACH|ENETUNREACH|ETIMEDOUT|UND_ERR)/.test(code);
}

function networkReason(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? (error as { code?: string }).code;
  return code ?? cause?.message ?? (error as Error).message;
}
