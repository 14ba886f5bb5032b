import { describe, expect, it } from 'vitest';

import { borg, CLI_TEST_TIMEOUT_MS } from './borg-cli.ts';

describe('borg up --help', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it("names where borg up keeps the local solder's state, and borg solder its own", async () => {
    const [up, solder] = await Promise.all([borg(['up', '--help']), borg(['solder', '--help'])]);
    const oneLine = (text: string) => text.replace(/\s+/g, ' ');
    expect(oneLine(up.stdout)).toContain('(BORG_STATE_DIR, default <data-dir>/solder, so ./borg-data/solder)');
    expect(oneLine(solder.stdout)).toContain('(BORG_STATE_DIR, default ~/.borg/solder)');
  });
});
