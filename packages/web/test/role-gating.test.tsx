// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import type { Identity, Job, JobWithTasks, Role } from '@borg/protocol';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import type { ReactNode } from 'react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import type * as ApiModule from '../src/lib/api.ts';
import { IdentityContext } from '../src/lib/identity.ts';
import { isReadOnly, mayCall, offerOf } from '../src/lib/permissions.ts';
import { navigate } from '../src/lib/router.ts';
import { JobDetailPage } from '../src/pages/jobs/job-detail-page.tsx';
import { mayChangeJob } from '../src/pages/jobs/job-permissions.ts';
import { JobsPage } from '../src/pages/jobs/jobs-page.tsx';
import { NewJobPage } from '../src/pages/jobs/new-job-page.tsx';
import { RunnerDetailPage } from '../src/pages/runners/runner-detail-page.tsx';
import { jobWithTasksOf, runnerOf } from './fixtures.ts';

const client = vi.hoisted(() => ({
  getJob: vi.fn(),
  listJobs: vi.fn(),
  listRunners: vi.fn(async () => ({ items: [], next_cursor: null })),
  getRunner: vi.fn(),
  approveRunner: vi.fn(),
  deleteRunner: vi.fn(),
  runnerTasks: vi.fn(async () => ({ items: [] })),
  stats: vi.fn(async () => ({ runner_offline_after_seconds: 90 })),
}));
vi.mock('../src/lib/api.ts', async (importOriginal) => ({
  ...(await importOriginal<typeof ApiModule>()),
  api: () => client,
}));

const ME = '00000000-0000-4000-8000-000000000001';
const OTHER = '00000000-0000-4000-8000-000000000002';

const as = (role: Role): Identity => ({ token_id: ME, name: `the ${role}`, kind: 'user', role, runner_id: null });

const job = (id: string, createdBy: Job['created_by'], extra: Partial<Job> = {}): JobWithTasks =>
  jobWithTasksOf({ id, name: `job ${id}`, created_by: createdBy, ...extra });
const mine = job('mine', { token_id: ME, name: 'the submitter' });
const theirs = job('theirs', { token_id: OTHER, name: 'alice' });
const anonymous = job('anonymous', null);

const runner = runnerOf({ id: '00000000-0000-4000-8000-0000000000aa', name: 'gpu-box', hostname: 'h' });

function renderAs(identity: Identity, page: ReactNode) {
  return render(
    <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
      <IdentityContext value={identity}>{page}</IdentityContext>
    </QueryClientProvider>,
  );
}

beforeEach(() => {
  client.getJob.mockImplementation(async (id: string) => [mine, theirs, anonymous].find((j) => j.id === id));
  client.listJobs.mockResolvedValue({ items: [mine, theirs, anonymous], next_cursor: null });
  client.getRunner.mockResolvedValue(runner);
});
afterEach(cleanup);

describe('what a role may do, from the route table', () => {
  it('lets each role call the routes its access allows, and says which role the others need', () => {
    expect(mayCall(as('viewer'), 'listJobs')).toEqual({ allowed: true });
    expect(mayCall(as('viewer'), 'createJob')).toEqual({
      allowed: false,
      reason: 'Needs the submitter role; this token is a viewer',
    });
    expect(mayCall(as('submitter'), 'createJob').allowed).toBe(true);
    expect(mayCall(as('submitter'), 'drainRunner')).toEqual({
      allowed: false,
      reason: 'Needs the operator role; this token is a submitter',
    });
    expect(mayCall(as('operator'), 'drainRunner').allowed).toBe(true);
    expect(mayCall(as('operator'), 'listAudit')).toEqual({
      allowed: false,
      reason: 'Needs the admin role; this token is an operator',
    });
    expect(mayCall(as('admin'), 'listAudit').allowed).toBe(true);
    // Outside the app nobody is known, and nothing is withheld: the mothership decides.
    expect(mayCall(null, 'listAudit').allowed).toBe(true);
  });

  it('treats a token that may change nothing as read-only, and offers it no actions at all', () => {
    expect(isReadOnly(as('viewer'))).toBe(true);
    expect(isReadOnly(as('submitter'))).toBe(false);
    expect(isReadOnly(null)).toBe(false);
    const refused = mayCall(as('viewer'), 'drainRunner');
    expect(offerOf(as('viewer'), refused)).toBe('hidden');
    expect(offerOf(as('submitter'), mayCall(as('submitter'), 'drainRunner'))).toBe('disabled');
    expect(offerOf(as('operator'), mayCall(as('operator'), 'drainRunner'))).toBe('enabled');
  });

  it('lets a submitter change only the jobs it submitted, and an operator any job', () => {
    expect(mayChangeJob(as('submitter'), 'cancel', mine).allowed).toBe(true);
    expect(mayChangeJob(as('submitter'), 'cancel', theirs)).toEqual({
      allowed: false,
      reason: 'Needs the operator role: this job was submitted by “alice”',
    });
    expect(mayChangeJob(as('submitter'), 'retry', anonymous)).toEqual({
      allowed: false,
      reason: 'Needs the operator role: this job was submitted by another token',
    });
    expect(mayChangeJob(as('operator'), 'pause', theirs).allowed).toBe(true);
    expect(mayChangeJob(as('viewer'), 'cancel', mine).allowed).toBe(false);
  });
});

describe('the job page', () => {
  it('offers a viewer no actions, and says who submitted the job', async () => {
    renderAs(as('viewer'), <JobDetailPage id="theirs" />);
    expect(await screen.findByTestId('submitted-by')).toHaveTextContent('Submitted by alice');
    expect(screen.queryByRole('button', { name: 'Cancel' })).toBeNull();
    expect(screen.queryByRole('button', { name: 'Pause' })).toBeNull();
  });

  it("shows a submitter the actions on another token's job disabled, with the role needed", async () => {
    renderAs(as('submitter'), <JobDetailPage id="theirs" />);
    const cancel = await screen.findByRole('button', { name: 'Cancel' });
    expect(cancel).toBeDisabled();
    expect(cancel).toHaveAttribute('title', 'Needs the operator role: this job was submitted by “alice”');
    expect(screen.getByRole('button', { name: 'Pause' })).toBeDisabled();
  });

  it('lets a submitter act on its own job, and an operator on any', async () => {
    renderAs(as('submitter'), <JobDetailPage id="mine" />);
    expect(await screen.findByRole('button', { name: 'Cancel' })).toBeEnabled();
    cleanup();
    renderAs(as('operator'), <JobDetailPage id="theirs" />);
    expect(await screen.findByRole('button', { name: 'Cancel' })).toBeEnabled();
  });

  it('says "—" for a job submitted before attribution', async () => {
    renderAs(as('viewer'), <JobDetailPage id="anonymous" />);
    expect(await screen.findByTestId('submitted-by')).toHaveTextContent('Submitted by —');
  });
});

describe('the jobs list', () => {
  beforeEach(() => navigate('/jobs'));

  it('shows a viewer no "New job" and no selection, and every job with who submitted it', async () => {
    renderAs(as('viewer'), <JobsPage />);
    await screen.findByText('job theirs');
    expect(screen.queryByText('New job')).toBeNull();
    expect(screen.queryAllByRole('checkbox')).toEqual([]);
    expect(screen.getAllByTestId('submitted-by').map((cell) => cell.textContent)).toEqual([
      'the submitter',
      'alice',
      '—',
    ]);
  });

  it("lets a submitter select only its own jobs; another's row says why it cannot", async () => {
    renderAs(as('submitter'), <JobsPage />);
    await screen.findByText('job theirs');
    expect(screen.getByRole('link', { name: 'New job' })).toHaveAttribute('href', '/jobs/new');
    const theirsBox = screen.getByRole('checkbox', { name: 'Select job theirs' });
    expect(theirsBox).toBeDisabled();
    expect(theirsBox).toHaveAttribute('title', 'Needs the operator role: this job was submitted by “alice”');
    fireEvent.click(screen.getByRole('checkbox', { name: 'Select all shown jobs' }));
    const toolbar = screen.getByRole('toolbar', { name: 'Selected jobs' });
    expect(within(toolbar).getByText('1 selected')).toBeInTheDocument();
    expect(screen.getByRole('checkbox', { name: 'Select job mine' })).toBeChecked();
  });

  it('lets an operator select every job', async () => {
    renderAs(as('operator'), <JobsPage />);
    await screen.findByText('job theirs');
    fireEvent.click(screen.getByRole('checkbox', { name: 'Select all shown jobs' }));
    expect(screen.getByText('3 selected')).toBeInTheDocument();
  });
});

describe('the new-job page', () => {
  it('tells a viewer which role submits, instead of a form it could not send', () => {
    renderAs(as('viewer'), <NewJobPage />);
    expect(screen.getByRole('status')).toHaveTextContent(
      'This token cannot submit jobs. Needs the submitter role; this token is a viewer.',
    );
    expect(screen.queryByRole('button', { name: 'Submit job' })).toBeNull();
    expect(screen.queryByLabelText('Input files')).toBeNull();
  });

  it('gives a submitter the form with uploads', () => {
    renderAs(as('submitter'), <NewJobPage />);
    expect(screen.getByLabelText('Input files')).toBeEnabled();
    expect(screen.getByRole('button', { name: 'Submit job' })).toBeInTheDocument();
  });
});

describe('the runner page', () => {
  it('shows a submitter Drain disabled with the role needed, a viewer none, an operator one that works', async () => {
    renderAs(as('submitter'), <RunnerDetailPage id={runner.id} />);
    const drain = await screen.findByRole('button', { name: 'Drain' });
    expect(drain).toBeDisabled();
    expect(drain).toHaveAttribute('title', 'Needs the operator role; this token is a submitter');
    cleanup();

    renderAs(as('viewer'), <RunnerDetailPage id={runner.id} />);
    await screen.findByText('gpu-box');
    expect(screen.queryByRole('button', { name: 'Drain' })).toBeNull();
    cleanup();

    client.getRunner.mockResolvedValue({ ...runner, draining: true });
    renderAs(as('operator'), <RunnerDetailPage id={runner.id} />);
    expect(await screen.findByRole('button', { name: 'Resume' })).toBeEnabled();
  });

  it('offers Approve for a runner awaiting approval, and Delete after a confirmation, to an operator only', async () => {
    client.getRunner.mockResolvedValue({ ...runner, approved: false });
    renderAs(as('submitter'), <RunnerDetailPage id={runner.id} />);
    expect(await screen.findByText('awaiting approval')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Approve' })).toBeDisabled();
    expect(screen.getByRole('button', { name: 'Delete' })).toHaveAttribute(
      'title',
      'Needs the operator role; this token is a submitter',
    );
    cleanup();

    client.approveRunner.mockResolvedValue({ ...runner, approved: true });
    renderAs(as('operator'), <RunnerDetailPage id={runner.id} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Approve' }));
    await vi.waitFor(() => expect(client.approveRunner).toHaveBeenCalledWith(runner.id));
    expect(await screen.findByText('online')).toBeInTheDocument();
    expect(screen.queryByRole('button', { name: 'Approve' })).toBeNull();

    const confirm = vi.spyOn(window, 'confirm').mockReturnValueOnce(false).mockReturnValueOnce(true);
    client.deleteRunner.mockResolvedValue({ ...runner, status: 'offline' });
    fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
    expect(client.deleteRunner).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole('button', { name: 'Delete' }));
    await vi.waitFor(() => expect(client.deleteRunner).toHaveBeenCalledWith(runner.id));
    await vi.waitFor(() => expect(window.location.pathname).toBe('/runners'));
    confirm.mockRestore();
  });
});
