import { describe, expect, it } from 'vitest';

import { refuseCleartext } from '../src/client-from-config.ts';

describe('borg refuses to send a token over plain http to another machine (A14)', () => {
  it.each(['http://127.0.0.1.evil.com:8080', 'http://localhost.evil.com', 'http://10.0.0.5:8080'])(
    'refuses %s',
    (addr) => {
      expect(() => refuseCleartext(addr, false)).toThrow(/refusing to send a token in clear text/);
      expect(() => refuseCleartext(addr, true)).not.toThrow();
    },
  );

  it.each(['http://127.0.0.2:8080', 'http://[::1]:8080', 'http://localhost:8080', 'https://borg.example.com'])(
    'allows %s',
    (addr) => expect(() => refuseCleartext(addr, false)).not.toThrow(),
  );
});
