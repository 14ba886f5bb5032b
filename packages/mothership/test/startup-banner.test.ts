import { describe, expect, it } from 'vitest';

import { loadConfig } from '../src/config.ts';
import { startupBanner } from '../src/main.ts';
import type { Mothership } from '../src/mothership.ts';

describe('the start-up banner', () => {
  const mothership = { createdSecrets: {} } as unknown as Mothership;
  const config = loadConfig({ dataDir: '/var/lib/borg' }, {});

  it('gives a local address to open, and says when every other address of the machine listens too', () => {
    expect(startupBanner(mothership, 'http://127.0.0.1:8080', config)).toBe(
      'borg mothership listening on http://127.0.0.1:8080 (embedded PostgreSQL in /var/lib/borg)',
    );
    expect(startupBanner(mothership, 'http://0.0.0.0:8080', config)).toBe(
      'borg mothership listening on http://127.0.0.1:8080 (embedded PostgreSQL in /var/lib/borg, ' +
        'and on every other address of this machine)',
    );
  });
});
