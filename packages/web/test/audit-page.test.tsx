// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import type { AuditEvent, Identity, Role } from '@borg/protocol';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, cleanup, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import type * as ApiModule from '../src/lib/api.ts';
import { IdentityContext } from '../src/lib/identity.ts';
import { navigate } from '../src/lib/router.ts';
import { TYPING_PAUSE_MS } from '../src/lib/use-debounced-callback.ts';
import { auditFiltersFromSearch } from '../src/pages/audit/audit-filters.ts';
import { AUDIT_PAGE_SIZE, AuditPage } from '../src/pages/audit/audit-page.tsx';

const { listAudit } = vi.hoisted(() => ({ listAudit: vi.fn() }));
vi.mock('../src/lib/api.ts', async (importOriginal) => ({
  ...(await importOriginal<typeof ApiModule>()),
  api: () => ({ listAudit }),
}));

const TOKEN = '00000000-0000-4000-8000-000000000001';
const JOB = '00000000-0000-4000-8000-0000000000a1';
const RUNNER = '00000000-0000-4000-8000-0000000000bb';
const as = (role: Role): Identity => ({ token_id: TOKEN, name: 'root', kind: 'user', role, runner_id: null });

let nextId = 100;
const entry = (extra: Partial<AuditEvent>): AuditEvent => ({
  id: String(nextId--),
  at: '2026-01-02T12:00:00.000Z',
  actor: { token_id: TOKEN, name: 'ci', kind: 'user', role: 'submitter' },
  address: '10.0.0.7',
  action: 'job.submit',
  object: { type: 'job', id: JOB },
  status: 201,
  outcome: 'ok',
  request_id: 'req-1',
  ...extra,
});

function renderPage(role: Role = 'admin') {
  return render(
    <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
      <IdentityContext value={as(role)}>
        <AuditPage />
      </IdentityContext>
    </QueryClientProvider>,
  );
}

type Row = ReturnType<typeof within>;

const lastQuery = () => listAudit.mock.calls.at(-1)![0] as Record<string, unknown>;

beforeEach(() => {
  listAudit.mockReset();
  listAudit.mockResolvedValue({ items: [], next_cursor: null });
  navigate('/audit');
});
afterEach(cleanup);

describe('the audit page', () => {
  it('lists entries newest first: time, actor and role, action, object (linked), address and outcome', async () => {
    listAudit.mockResolvedValueOnce({
      items: [
        entry({}),
        entry({
          actor: null,
          action: 'runner.drain',
          object: { type: 'runner', id: RUNNER },
          address: '203.0.113.9',
          status: 401,
          outcome: 'refused',
        }),
        entry({ action: 'file.download', object: { type: 'file', id: 'f-1' } }),
        entry({
          actor: { token_id: RUNNER, name: 'solder-1', kind: 'runner', role: null },
          action: 'token.create',
          object: null,
          status: 500,
          outcome: 'failed',
        }),
      ],
      next_cursor: null,
    });
    renderPage();
    const rows = await screen.findAllByTestId('audit-row');
    expect(rows).toHaveLength(4);
    expect(listAudit).toHaveBeenCalledWith(expect.objectContaining({ limit: AUDIT_PAGE_SIZE, cursor: undefined }));

    const [submit, drain, download, create] = rows.map((row) => within(row)) as [Row, Row, Row, Row];
    expect(submit.getByText('ci')).toBeInTheDocument();
    expect(submit.getByText('(submitter)')).toBeInTheDocument();
    expect(submit.getByText('job.submit')).toBeInTheDocument();
    expect(submit.getByRole('link', { name: `job ${JOB}` })).toHaveAttribute('href', `/jobs/${JOB}`);
    expect(submit.getByText('10.0.0.7')).toBeInTheDocument();
    expect(submit.getByTestId('audit-outcome')).toHaveTextContent('ok 201');
    expect(rows[0]!.querySelector('time')).toHaveAttribute('dateTime', '2026-01-02T12:00:00.000Z');

    expect(drain.getByText('no valid token')).toBeInTheDocument();
    expect(drain.getByRole('link', { name: `runner ${RUNNER}` })).toHaveAttribute('href', `/runners/${RUNNER}`);
    expect(drain.getByTestId('audit-outcome')).toHaveTextContent('refused 401');

    // A file has no page of its own: its id is text.
    expect(download.queryByRole('link')).toBeNull();
    expect(download.getByText('file f-1')).toBeInTheDocument();
    // A runner token has no role: its kind stands in.
    expect(create.getByText('(runner)')).toBeInTheDocument();
    expect(create.getByTestId('audit-outcome')).toHaveAttribute('data-outcome', 'failed');
  });

  it('shows names, addresses and ids as text, never as markup', async () => {
    const hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>';
    listAudit.mockResolvedValueOnce({
      items: [
        entry({
          actor: { token_id: TOKEN, name: hostile, kind: 'user', role: 'admin' },
          address: hostile,
          object: { type: 'secret', id: hostile },
        }),
      ],
      next_cursor: null,
    });
    const { container } = renderPage();
    const row = within(await screen.findByTestId('audit-row'));
    // The actor's name and the address, each one text node.
    expect(row.getAllByText(hostile)).toHaveLength(2);
    expect(row.getByText(`secret ${hostile}`)).toBeInTheDocument();
    expect(container.querySelectorAll('img, script')).toHaveLength(0);
  });

  it('loads older entries a page at a time with the cursor', async () => {
    listAudit
      .mockResolvedValueOnce({ items: [entry({ action: 'job.cancel' })], next_cursor: 'page-2' })
      .mockResolvedValueOnce({ items: [entry({ action: 'job.pause' })], next_cursor: null });
    renderPage();
    const actions = () => screen.getAllByTestId('audit-row').map((row) => row.children[2]!.textContent);
    await screen.findByTestId('audit-row');
    fireEvent.click(screen.getByRole('button', { name: 'Load more' }));
    await waitFor(() => expect(actions()).toEqual(['job.cancel', 'job.pause']));
    expect(lastQuery().cursor).toBe('page-2');
    expect(screen.queryByRole('button', { name: 'Load more' })).toBeNull();
  });

  it('reads its filters from the URL, and puts a changed one back there', async () => {
    navigate(`/audit?action=job.cancel&actor=${TOKEN}&object=${JOB}&since=1h`);
    renderPage();
    await waitFor(() => expect(listAudit).toHaveBeenCalled());
    expect(lastQuery()).toMatchObject({ action: 'job.cancel', actor: TOKEN, object: JOB, before: undefined });
    expect(Date.now() - Date.parse(lastQuery().after as string)).toBeGreaterThanOrEqual(3_600_000);
    expect(screen.getByLabelText('Action')).toHaveValue('job.cancel');
    expect(screen.getByLabelText('Actor token id')).toHaveValue(TOKEN);

    fireEvent.change(screen.getByLabelText('Action'), { target: { value: 'runner.drain' } });
    expect(new URLSearchParams(location.search).get('action')).toBe('runner.drain');
    await waitFor(() => expect(lastQuery().action).toBe('runner.drain'));

    fireEvent.change(screen.getByLabelText('Time'), { target: { value: 'custom' } });
    fireEvent.change(screen.getByLabelText('Time before'), { target: { value: '2026-01-01T10:00' } });
    await waitFor(() => expect(lastQuery().before).toBe(new Date('2026-01-01T10:00').toISOString()));
    expect(new URLSearchParams(location.search).get('since')).toBeNull();
  });

  it('applies a typed actor once typing pauses, and leaves out one that is not a token id', async () => {
    renderPage();
    await waitFor(() => expect(listAudit).toHaveBeenCalledTimes(1));
    fireEvent.change(screen.getByLabelText('Actor token id'), { target: { value: 'not-a-token' } });
    await act(() => new Promise((resolve) => setTimeout(resolve, TYPING_PAUSE_MS + 50)));
    expect(new URLSearchParams(location.search).get('actor')).toBe('not-a-token');
    expect(screen.getByText(/The actor filter takes a token id/)).toBeInTheDocument();
    expect(lastQuery().actor).toBeUndefined();

    fireEvent.change(screen.getByLabelText('Actor token id'), { target: { value: TOKEN } });
    await waitFor(() => expect(lastQuery().actor).toBe(TOKEN));
    expect(screen.queryByText(/The actor filter takes a token id/)).toBeNull();
  });

  it('says an empty log is empty, and a filtered one matches nothing', async () => {
    renderPage();
    await screen.findByText('Nothing recorded yet.');
    cleanup();
    navigate('/audit?action=token.revoke');
    renderPage();
    await screen.findByText('No entry matches these filters.');
  });

  it('is not fetched for a token below admin, which is told the role needed', () => {
    renderPage('operator');
    expect(screen.getByRole('status')).toHaveTextContent(
      'This token cannot read the audit log. Needs the admin role; this token is an operator.',
    );
    expect(listAudit).not.toHaveBeenCalled();
  });
});

describe('audit filters in the URL', () => {
  it('become the API query; an unknown action is dropped, a bad actor or object named as not applied', () => {
    const now = Date.parse('2026-01-02T12:00:00.000Z');
    expect(auditFiltersFromSearch(new URLSearchParams(`action=job.retry&actor=${TOKEN}&since=24h`), now)).toEqual({
      filters: {
        action: 'job.retry',
        actor: TOKEN,
        object: undefined,
        after: '2026-01-01T12:00:00.000Z',
        before: undefined,
      },
      ignored: [],
    });
    const bad = auditFiltersFromSearch(
      new URLSearchParams(`action=job.explode&actor=bob&object=${'x'.repeat(65)}`),
      now,
    );
    expect(bad.filters).toMatchObject({ action: undefined, actor: undefined, object: undefined });
    expect(bad.ignored).toEqual(['actor', 'object']);
  });
});
