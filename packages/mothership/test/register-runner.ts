import { randomUUID } from 'node:crypto';

import type { RegisterRunnerRequest } from '@borg/protocol';

import type { TestMothership } from '../../../test/test-mothership.ts';

/** Registers a linux/x64 runner of one slot, named `name` (its hostname too), with `extra` on top; answers its id and client. */
export async function registerRunner(b: TestMothership, name: string, extra: Partial<RegisterRunnerRequest> = {}) {
  const registered = await b.client(b.registrationToken).register({
    device_id: `device-${randomUUID()}`,
    name,
    hostname: name,
    os: 'linux',
    arch: 'x64',
    max_concurrent_tasks: 1,
    labels: {},
    resources: {},
    ...extra,
  });
  return { id: registered.id, client: b.client(registered.token) };
}
