// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import type { Identity, Job } from '@borg/protocol';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { cleanup, fireEvent, render, screen } from '@testing-library/react';
import type { ReactNode } from 'react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import type * as ApiModule from '../src/lib/api.ts';
import { IdentityContext } from '../src/lib/identity.ts';
import { navigate } from '../src/lib/router.ts';
import { cliCommandOf, shellQuote } from '../src/pages/jobs/cli-command.ts';
import { initialValuesOf } from '../src/pages/jobs/job-clone.ts';
import { JobDetailPage } from '../src/pages/jobs/job-detail-page.tsx';
import { NewJobForm } from '../src/pages/jobs/new-job.tsx';
import { NewJobPage } from '../src/pages/jobs/new-job-page.tsx';
import { jobOf, jobWithTasksOf } from './fixtures.ts';

const client = vi.hoisted(() => ({
  getJob: vi.fn(),
  createJob: vi.fn(),
  listRunners: vi.fn(async () => ({ items: [], next_cursor: null })),
}));
vi.mock('../src/lib/api.ts', async (importOriginal) => ({
  ...(await importOriginal<typeof ApiModule>()),
  api: () => client,
}));

const FILE_ID = '00000000-0000-4000-8000-0000000000f1';
/** A job using every field the form and the CLI know. */
const full: Job = jobOf({
  id: 'j1',
  name: "nightly 'train'",
  type: 'container',
  image: 'python:3.12',
  user: '1000:100',
  command: ['python', '-c', 'print("hi $HOME")'],
  env: { MODE: 'fast run' },
  secrets: { API_TOKEN: 'deploy-token' },
  labels: { team: 'ml' },
  resources: { cpu: 2, memory_mb: 8192, gpus: 1, gpu_memory_mb: 40000 },
  constraints: ['gpu_model in (A100, H100)'],
  priority: 5,
  max_attempts: 3,
  timeout_seconds: 5400,
  array_size: 4,
  artifacts: ['out/*.png'],
  files: [{ file_id: FILE_ID, path: 'input/data.csv' }],
});

const submitter: Identity = {
  token_id: '00000000-0000-4000-8000-000000000001',
  name: 's',
  kind: 'user',
  role: 'submitter',
  runner_id: null,
};

function renderWith(page: ReactNode, identity: Identity = submitter) {
  return render(
    <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
      <IdentityContext value={identity}>{page}</IdentityContext>
    </QueryClientProvider>,
  );
}

beforeEach(() => client.getJob.mockResolvedValue(jobWithTasksOf({ ...full, status: 'failed' })));
afterEach(cleanup);

describe('the CLI command of a job', () => {
  it('quotes for sh only what needs it, single quotes included', () => {
    expect(shellQuote('make')).toBe('make');
    expect(shellQuote('team=ml')).toBe('team=ml');
    expect(shellQuote('')).toBe("''");
    expect(shellQuote('a b')).toBe("'a b'");
    expect(shellQuote("it's")).toBe("'it'\\''s'");
    expect(shellQuote('$HOME; rm -rf /')).toBe("'$HOME; rm -rf /'");
  });

  it('has a flag for everything the job holds and leaves out the defaults', () => {
    expect(cliCommandOf(full)).toBe(
      "borg submit --name 'nightly '\\''train'\\''' --type container --image python:3.12 --user 1000:100 " +
        "--env 'MODE=fast run' --secret API_TOKEN=deploy-token --label team=ml " +
        "--constraint 'gpu_model in (A100, H100)' --cpu 2 --memory 8192 --gpus 1 --gpu-memory 40000 " +
        "--priority 5 --attempts 3 --timeout 1h30m --array 4 --artifact 'out/*.png' " +
        `-- python -c 'print("hi $HOME")'`,
    );
    expect(cliCommandOf(jobOf({ name: 'build', command: 'make test && echo ok' }))).toBe(
      "borg submit --name build -- 'make test && echo ok'",
    );
  });
});

describe('Run again', () => {
  it('fills the form with the spec, and submitting it unchanged sends the same job', async () => {
    const onSubmit = vi.fn(async () => undefined);
    renderWith(<NewJobForm onSubmit={onSubmit} initial={initialValuesOf(full)} />);
    expect(screen.getByLabelText('Name')).toHaveValue("nightly 'train'");
    expect(screen.getByRole('radio', { name: 'container' })).toBeChecked();
    expect(screen.getByLabelText(/Command \(one argument per line\)/)).toHaveValue('python\n-c\nprint("hi $HOME")');
    expect(screen.getByLabelText('Run as user')).toHaveValue('1000:100');
    expect(screen.getByTestId('kept-file')).toBeInTheDocument();
    expect(screen.getByTestId('kept-secret')).toHaveTextContent('API_TOKEN ← deploy-token');
    fireEvent.click(screen.getByRole('button', { name: 'Submit job' }));
    await vi.waitFor(() => expect(onSubmit).toHaveBeenCalled());
    expect(onSubmit).toHaveBeenCalledWith({
      name: "nightly 'train'",
      type: 'container',
      command: ['python', '-c', 'print("hi $HOME")'],
      image: 'python:3.12',
      user: '1000:100',
      env: { MODE: 'fast run' },
      secrets: { API_TOKEN: 'deploy-token' },
      labels: { team: 'ml' },
      resources: { cpu: 2, memory_mb: 8192, gpus: 1, gpu_memory_mb: 40000 },
      constraints: ['gpu_model in (A100, H100)'],
      priority: 5,
      max_attempts: 3,
      timeout_seconds: 5400,
      array_size: 4,
      artifacts: ['out/*.png'],
      files: [{ file_id: FILE_ID, path: 'input/data.csv' }],
      // No dependencies from the form: the request says so explicitly.
      depends_on: [],
      inputs_from: [],
      unsatisfiable: 'reject',
    });
  });

  it('lets a carried-over secret and file be removed', async () => {
    const onSubmit = vi.fn(async () => undefined);
    renderWith(<NewJobForm onSubmit={onSubmit} initial={initialValuesOf(full)} />);
    fireEvent.click(screen.getByRole('button', { name: 'Remove the secret API_TOKEN' }));
    fireEvent.click(screen.getByRole('button', { name: 'Remove' }));
    fireEvent.click(screen.getByRole('button', { name: 'Submit job' }));
    await vi.waitFor(() => expect(onSubmit).toHaveBeenCalled());
    expect(onSubmit).toHaveBeenCalledWith(expect.objectContaining({ files: [], secrets: undefined }));
  });

  it('is a link from the job page to the form, which loads the job', async () => {
    navigate('/jobs/j1');
    renderWith(<JobDetailPage id="j1" />);
    const link = await screen.findByRole('link', { name: 'Run again' });
    // The page shows the user the container runs as, which Run again carries over.
    expect(screen.getByText('Runs as').nextElementSibling).toHaveTextContent('1000:100');
    expect(link).toHaveAttribute('href', '/jobs/new?from=j1');
    cleanup();
    navigate('/jobs/new?from=j1');
    renderWith(<NewJobPage />);
    expect(await screen.findByRole('heading', { name: 'Run a job again' })).toBeInTheDocument();
    expect(await screen.findByLabelText('Name')).toHaveValue("nightly 'train'");
    expect(screen.getByRole('link', { name: "nightly 'train'" })).toHaveAttribute('href', '/jobs/j1');
  });

  it('is not offered to a token that cannot submit', async () => {
    navigate('/jobs/j1');
    renderWith(<JobDetailPage id="j1" />, { ...submitter, role: 'viewer' });
    await screen.findByRole('button', { name: 'Copy as CLI command' });
    expect(screen.queryByRole('link', { name: 'Run again' })).toBeNull();
  });
});

describe('Copy as CLI command', () => {
  it('writes the command to the clipboard and says what it leaves out', async () => {
    const writeText = vi.fn(async () => undefined);
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    renderWith(<JobDetailPage id="j1" />);
    fireEvent.click(await screen.findByRole('button', { name: 'Copy as CLI command' }));
    expect(await screen.findByText(/^Copied\. It leaves out its input file/)).toBeInTheDocument();
    expect(writeText).toHaveBeenCalledWith(cliCommandOf(full));
  });

  it('shows the command to copy by hand where the clipboard refuses', async () => {
    const writeText = vi.fn(async () => Promise.reject(new Error('not allowed')));
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    renderWith(<JobDetailPage id="j1" />);
    fireEvent.click(await screen.findByRole('button', { name: 'Copy as CLI command' }));
    const box = await screen.findByLabelText(/copy it from this box/);
    expect(box).toHaveValue(cliCommandOf(full));
  });
});
