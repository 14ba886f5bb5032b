import { describe, expect, it } from 'vitest';

import { rawRequest, useTestMothership } from '../../../test/test-mothership.ts';

/** A route that does not exist is a 404 naming it, whatever the request carries. */
describe('an unknown route', () => {
  const borg = useTestMothership();

  it.each([
    ['no body', {}],
    ['a JSON body', { body: '{"name":"x"}' }],
    ['an empty JSON object', { body: '{}' }],
    ['a text body', { body: 'hello', headers: { 'content-type': 'text/plain' } }],
    [
      'a multipart body',
      {
        body: '--b\r\ncontent-disposition: form-data; name="file"; filename="a"\r\n\r\nx\r\n--b--\r\n',
        headers: { 'content-type': 'multipart/form-data; boundary=b' },
      },
    ],
  ])('answers 404 naming the route, with %s', async (_what, extra) => {
    const token = borg().adminToken;
    const response = await rawRequest(borg().url, { method: 'POST', path: '/api/v1/nowhere?x=1', token, ...extra });
    expect(response.status).toBe(404);
    expect(response.body).toEqual({ error: { code: 'NOT_FOUND', message: 'no route POST /api/v1/nowhere' } });
  });

  it('leaves a known route that takes no body refusing one', async () => {
    const job = await borg().admin.createJob({ name: 'bodyless', type: 'shell', command: 'true' });
    const response = await rawRequest(borg().url, {
      method: 'POST',
      path: `/api/v1/jobs/${job.id}/pause`,
      token: borg().adminToken,
      body: '{"why":"x"}',
    });
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ error: { message: 'POST /api/v1/jobs/:id/pause takes no request body' } });
  });
});
