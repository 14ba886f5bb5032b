import { describe, expect, it } from 'vitest';

import { isLoopbackUrl, sendsTokensInClear } from '../src/transport.ts';

describe('the loopback exemption from the plain-http refusal (A14)', () => {
  it.each([
    'http://localhost',
    'http://localhost:8080',
    'http://LOCALHOST:8080',
    'http://127.0.0.1:8080',
    'http://127.0.0.2',
    'http://127.255.255.254',
    'http://127.1', // the URL parser reads it as 127.0.0.1
    'http://[::1]:8080',
    'http://[0:0:0:0:0:0:0:1]',
  ])('%s is this machine', (url) => {
    expect(isLoopbackUrl(new URL(url))).toBe(true);
    expect(sendsTokensInClear(new URL(url))).toBe(false);
  });

  it.each([
    'http://127.0.0.1.evil.com',
    'http://127.evil.com',
    'http://localhost.evil.com',
    'http://evil-localhost',
    'http://128.0.0.1',
    'http://10.0.0.5:8080',
    'http://[::2]',
    'http://[::ffff:10.0.0.1]',
    'http://example.com',
  ])('%s is another machine: plain http to it is refused', (url) => {
    expect(isLoopbackUrl(new URL(url))).toBe(false);
    expect(sendsTokensInClear(new URL(url))).toBe(true);
  });

  it('https never sends a token in clear text, to any host', () => {
    expect(sendsTokensInClear(new URL('https://127.0.0.1.evil.com'))).toBe(false);
    expect(sendsTokensInClear(new URL('https://10.0.0.5'))).toBe(false);
  });
});
