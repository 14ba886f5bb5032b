import { BorgApiError } from '@borg/protocol';
import { describe, expect, test } from 'vitest';

import { claimFailure } from '../src/claim-loop.ts';
import { heartbeatFailure } from '../src/heartbeat-loop.ts';

const answer = (status: number, code: ConstructorParameters<typeof BorgApiError>[1]) =>
  new BorgApiError(status, code, 'an answer');

describe('what a failed call means to the solder loops', () => {
  test.each([
    ['the mothership cannot be reached', 'transient', 'transient', new TypeError('fetch failed')],
    ['the connection was reset', 'transient', 'transient', new Error('read ECONNRESET')],
    [
      'the call ran past its deadline',
      'transient',
      'transient',
      new DOMException('The operation timed out.', 'TimeoutError'),
    ],
    ['500', 'transient', 'transient', answer(500, 'INTERNAL')],
    ['503 (database unavailable)', 'transient', 'transient', answer(503, 'DATABASE_UNAVAILABLE')],
    ['429 (rate limited)', 'transient', 'transient', answer(429, 'RATE_LIMITED')],
    ['408 (too slow)', 'transient', 'transient', answer(408, 'REQUEST_TIMEOUT')],
    ['401: the runner token is gone', 'token-refused', 'token-refused', answer(401, 'UNAUTHORIZED')],
    ['403: not this runner', 'refused', 'runner-refused', answer(403, 'FORBIDDEN')],
    ['404: no such runner', 'refused', 'runner-refused', answer(404, 'RUNNER_NOT_FOUND')],
    ['400: a request the mothership cannot read', 'refused', 'refused', answer(400, 'VALIDATION_FAILED')],
    ['409: a task no longer ours', 'refused', 'refused', answer(409, 'STALE_TASK')],
  ])('%s: to a heartbeat %s, to a claim %s', (_, heartbeat, claim, error) => {
    expect(heartbeatFailure(error)).toBe(heartbeat);
    expect(claimFailure(error)).toBe(claim);
  });
});
