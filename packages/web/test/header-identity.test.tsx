// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import type { Identity, Role } from '@borg/protocol';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, cleanup, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { App } from '../src/app.tsx';
import type * as ApiModule from '../src/lib/api.ts';
import type * as LiveModule from '../src/lib/live.ts';
import { navigate } from '../src/lib/router.ts';

const { whoami, signIn } = vi.hoisted(() => ({ whoami: vi.fn(), signIn: vi.fn() }));
vi.mock('../src/lib/api.ts', async (importOriginal) => {
  const original = await importOriginal<typeof ApiModule>();
  return { ...original, api: () => ({ whoami }), signIn };
});
// No WebSocket in these tests: the header does not need live events.
vi.mock('../src/lib/live.ts', async (importOriginal) => ({
  ...(await importOriginal<typeof LiveModule>()),
  Live: class {
    start() {}
    stop() {}
  },
}));

const as = (role: Role): Identity => ({
  token_id: '00000000-0000-4000-8000-000000000001',
  name: `${role} token <b>`,
  kind: 'user',
  role,
  runner_id: null,
});

function renderApp(queries = new QueryClient()) {
  render(
    <QueryClientProvider client={queries}>
      <App />
    </QueryClientProvider>,
  );
  return queries;
}

beforeEach(() => {
  whoami.mockReset();
  signIn.mockReset();
  sessionStorage.setItem('borg.token', 'borg_usr_test');
  // A page that fetches nothing, so only the header's whoami is called.
  navigate('/nowhere');
});
afterEach(() => {
  cleanup();
  sessionStorage.clear();
});

describe('the header', () => {
  it("shows the token's name and role, and links the audit log for an admin", async () => {
    whoami.mockResolvedValue(as('admin'));
    renderApp();
    const identity = await screen.findByTestId('identity');
    expect(identity).toHaveTextContent('admin token <b>');
    expect(within(identity).getByTestId('role')).toHaveTextContent('admin');
    const nav = screen.getByRole('navigation', { name: 'Main' });
    expect(within(nav).getByRole('link', { name: 'Audit' })).toHaveAttribute('href', '/audit');
  });

  it('does not link the audit log below admin', async () => {
    whoami.mockResolvedValue(as('operator'));
    renderApp();
    await screen.findByTestId('identity');
    const nav = screen.getByRole('navigation', { name: 'Main' });
    expect(
      within(nav)
        .getAllByRole('link')
        .map((l) => l.textContent),
    ).toEqual(['Overview', 'Jobs', 'Runners', 'Schedules']);
  });

  it('asks who the token is once, even when everything cached is fetched again (a reconnect)', async () => {
    whoami.mockResolvedValue(as('viewer'));
    const queries = renderApp();
    await screen.findByTestId('identity');
    await act(() => queries.invalidateQueries());
    expect(screen.getByTestId('role')).toHaveTextContent('viewer');
    expect(whoami).toHaveBeenCalledTimes(1);
  });

  it("signs a link's token in in place of the tab's session, never showing the old token as the new one", async () => {
    // The tab holds an admin's session; a link signs a viewer in.
    whoami.mockResolvedValue(as('admin'));
    signIn.mockImplementation(async (token: string) => {
      expect(sessionStorage.getItem('borg.token')).toBeNull();
      sessionStorage.setItem('borg.token', token);
      return as('viewer');
    });
    navigate('/nowhere?token=borg_usr_viewer');
    renderApp();
    expect(await screen.findByTestId('role')).toHaveTextContent('viewer');
    expect(signIn).toHaveBeenCalledWith('borg_usr_viewer');
    expect(whoami).not.toHaveBeenCalled();
    expect(location.search).toBe('');
    expect(screen.queryByRole('link', { name: 'Audit' })).toBeNull();
  });
});
