// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import type { CreatedToken, Identity, Role, Runner } from '@borg/protocol';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import type * as ApiModule from '../src/lib/api.ts';
import { IdentityContext } from '../src/lib/identity.ts';
import { Live } from '../src/lib/live.ts';
import { navigate, useLocation } from '../src/lib/router.ts';
import { AddRunnerPage } from '../src/pages/runners/add-runner-page.tsx';
import {
  installLine,
  labelsRefused,
  parseAllowedLabels,
  parseRunnerLabels,
  shellWord,
  singleValueLabels,
} from '../src/pages/runners/install-line.ts';
import { RunnerDetailPage } from '../src/pages/runners/runner-detail-page.tsx';
import { RunnersPage } from '../src/pages/runners/runners-page.tsx';
import { runnerOf } from './fixtures.ts';

const client = vi.hoisted(() => ({
  createToken: vi.fn(),
  listRunners: vi.fn(),
  getRunner: vi.fn(),
  runnerTasks: vi.fn(async () => ({ items: [] })),
  stats: vi.fn(async () => ({ runner_offline_after_seconds: 90 })),
}));
vi.mock('../src/lib/api.ts', async (importOriginal) => ({
  ...(await importOriginal<typeof ApiModule>()),
  api: () => client,
}));

const TOKEN = 'borg_reg_s3cr3tTOKENvalue';
const TOKEN_CREATED = '2026-03-01T10:00:00.000Z';
const ORIGIN = window.location.origin;

const as = (role: Role): Identity => ({
  token_id: '00000000-0000-4000-8000-000000000001',
  name: `the ${role}`,
  kind: 'user',
  role,
  runner_id: null,
});

const runner = (id: string, name: string, createdAt: string, extra: Partial<Runner> = {}): Runner =>
  runnerOf({
    id,
    device_id: `device-${id}`,
    name,
    hostname: `${name}.local`,
    version: '0.4.2',
    max_concurrent_tasks: 2,
    last_heartbeat: createdAt,
    created_at: createdAt,
    ...extra,
  });
const OLD = runner('00000000-0000-4000-8000-0000000000a1', 'old-box', '2026-02-01T00:00:00.000Z');
const OLD_NO_VERSION = runner('00000000-0000-4000-8000-0000000000a2', 'ancient-box', '2026-01-01T00:00:00.000Z', {
  version: null,
});
const NEW = runner('00000000-0000-4000-8000-0000000000b1', 'new-box', '2026-03-01T10:00:05.000Z', {
  labels: { pool: 'gpu', zone: 'b' },
});

const created = (request: Record<string, unknown>): CreatedToken => ({
  id: '00000000-0000-4000-8000-0000000000cc',
  name: String(request.name),
  kind: 'registration',
  role: null,
  runner_id: null,
  created_by: '00000000-0000-4000-8000-000000000001',
  created_at: TOKEN_CREATED,
  last_used_at: null,
  expires_at: null,
  revoked_at: null,
  max_uses: (request.max_uses as number | undefined) ?? null,
  uses: 0,
  allowed_labels: (request.allowed_labels as CreatedToken['allowed_labels'] | undefined) ?? null,
  token: TOKEN,
});

/** The two runner pages, routed as the app routes them. */
function Routed() {
  const { path } = useLocation();
  return path === '/runners/new' ? <AddRunnerPage /> : <RunnersPage />;
}

let queries: QueryClient;
function renderAs(identity: Identity | null, page = <Routed />) {
  queries = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return render(
    <QueryClientProvider client={queries}>
      <IdentityContext value={identity}>{page}</IdentityContext>
    </QueryClientProvider>,
  );
}

const today = () => {
  const d = new Date();
  const two = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
};

beforeEach(() => {
  navigate('/runners');
  client.createToken.mockImplementation(async (request: Record<string, unknown>) => created(request));
  client.listRunners.mockResolvedValue({ items: [OLD, OLD_NO_VERSION], next_cursor: null });
  client.getRunner.mockResolvedValue(OLD);
});
afterEach(() => {
  cleanup();
  vi.clearAllMocks();
});

describe('adding a runner, as an admin', () => {
  it('goes from the runners page to a form, creates a registration token and shows the exact install line', async () => {
    renderAs(as('admin'));
    fireEvent.click(await screen.findByRole('link', { name: 'Add a runner' }));
    expect(window.location.pathname).toBe('/runners/new');
    expect(await screen.findByRole('heading', { name: 'Add a runner' })).toBeInTheDocument();
    expect(screen.getByText(/Node\.js 20\.19 or later/)).toBeInTheDocument();
    expect(screen.getByText(/See docs\/solder\.md/)).toBeInTheDocument();

    expect(screen.getByLabelText('Token name')).toHaveValue(`runners added ${today()}`);
    fireEvent.change(screen.getByLabelText('Runners it may register'), { target: { value: '3' } });
    fireEvent.change(screen.getByLabelText('Allowed labels'), {
      target: { value: 'pool=gpu, zone=a\nzone=b, cuda=*, cuda=12' },
    });
    // Prefilled from the allowed labels that name one value.
    expect(screen.getByLabelText('Labels for this runner')).toHaveValue('pool=gpu');
    fireEvent.change(screen.getByLabelText('Labels for this runner'), { target: { value: 'pool=gpu,zone=b' } });
    expect(screen.queryByTestId('install-line')).toBeNull();

    fireEvent.click(screen.getByRole('button', { name: 'Create registration token' }));
    const line = await screen.findByTestId('install-line');
    expect(line.textContent).toBe(
      `curl -fsSL ${ORIGIN}/install.sh | sh -s -- --registration-token ${TOKEN} --labels pool=gpu,zone=b`,
    );
    expect(client.createToken).toHaveBeenCalledTimes(1);
    expect(client.createToken).toHaveBeenCalledWith({
      name: `runners added ${today()}`,
      kind: 'registration',
      max_uses: 3,
      allowed_labels: { pool: 'gpu', zone: ['a', 'b'], cuda: '*' },
      expires_in_seconds: 86400,
    });
    expect(screen.getByRole('status')).toHaveTextContent('The token is shown only once');

    // jsdom's origin is plain http: the page says so, and --insecure is one tick away.
    expect(screen.getByText(/served over plain http/)).toBeInTheDocument();
    fireEvent.click(screen.getByRole('checkbox', { name: 'Add --insecure' }));
    expect(screen.getByTestId('install-line').textContent).toBe(
      `curl -fsSL ${ORIGIN}/install.sh | sh -s -- --registration-token ${TOKEN} --labels pool=gpu,zone=b --insecure`,
    );

    // A label the token does not allow is pointed out before the mothership refuses it.
    fireEvent.change(screen.getByLabelText('Labels for this runner'), { target: { value: 'pool=cpu' } });
    expect(screen.getByText(/The token does not allow pool=cpu/)).toBeInTheDocument();

    // The token stays in the page: not in the address, the history, storage or the query cache.
    expect(window.location.href).not.toContain(TOKEN);
    expect(JSON.stringify(history.state ?? null)).not.toContain(TOKEN);
    expect(JSON.stringify({ ...sessionStorage })).not.toContain(TOKEN);
    expect(JSON.stringify({ ...localStorage })).not.toContain(TOKEN);
    const cached = [
      ...queries
        .getQueryCache()
        .getAll()
        .map((q) => q.state.data),
      ...queries
        .getMutationCache()
        .getAll()
        .map((m) => m.state.data),
    ];
    expect(JSON.stringify(cached)).not.toContain(TOKEN);
  });

  it('waits for the runner, and names the one that registers after the token, with a link', async () => {
    renderAs(as('admin'));
    navigate('/runners/new');
    fireEvent.click(await screen.findByRole('button', { name: 'Create registration token' }));
    // Without labels the line has no --labels; blank fields leave their keys out of the body.
    expect((await screen.findByTestId('install-line')).textContent).toBe(
      `curl -fsSL ${ORIGIN}/install.sh | sh -s -- --registration-token ${TOKEN}`,
    );
    expect(client.createToken).toHaveBeenCalledWith({
      name: `runners added ${today()}`,
      kind: 'registration',
      max_uses: undefined,
      allowed_labels: undefined,
      expires_in_seconds: 86400,
    });
    const status = screen.getByTestId('registration-status');
    expect(await within(status).findByText('Waiting for the runner to register…')).toBeInTheDocument();
    expect(status).not.toHaveTextContent('old-box');

    // The registration arrives as the live `runners` topic delivers it.
    const live = new Live(queries);
    act(() => live.receiveFrame(JSON.stringify({ type: 'runner.updated', topic: 'runners', data: NEW })));
    const link = await within(status).findByRole('link', { name: 'new-box' });
    expect(link).toHaveAttribute('href', `/runners/${NEW.id}`);
    expect(status).toHaveTextContent('Runner new-box registered.');
    // No limit on uses: more runners may come.
    expect(status).toHaveTextContent('Waiting for more runners to register…');
    expect(status).not.toHaveTextContent('old-box');
  });

  it('copies the line to the clipboard, or selects it where there is no clipboard', async () => {
    renderAs(as('admin'));
    navigate('/runners/new');
    fireEvent.click(await screen.findByRole('button', { name: 'Create registration token' }));
    const line = await screen.findByTestId('install-line');

    const writeText = vi.fn(async () => {});
    Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
    fireEvent.click(screen.getByRole('button', { name: 'Copy' }));
    expect(await screen.findByText('Copied to the clipboard.')).toBeInTheDocument();
    expect(writeText).toHaveBeenCalledWith(line.textContent);

    Object.defineProperty(navigator, 'clipboard', { value: undefined, configurable: true });
    fireEvent.click(screen.getByRole('button', { name: 'Copy' }));
    expect(await screen.findByText(/Selected: press Ctrl\+C/)).toBeInTheDocument();
    expect(window.getSelection()?.toString()).toBe(line.textContent);
    Reflect.deleteProperty(navigator, 'clipboard');
  });

  it('refuses a bad max uses or allowed labels before sending, and shows a refusal by the server', async () => {
    renderAs(as('admin'));
    navigate('/runners/new');
    fireEvent.change(await screen.findByLabelText('Runners it may register'), { target: { value: '0' } });
    fireEvent.change(screen.getByLabelText('Allowed labels'), { target: { value: 'pool' } });
    expect(screen.getByText('"pool" is not key=value')).toBeInTheDocument();
    fireEvent.click(screen.getByRole('button', { name: 'Create registration token' }));
    expect(await screen.findByText(/a whole number from 1 to 1000000/)).toBeInTheDocument();
    expect(client.createToken).not.toHaveBeenCalled();

    fireEvent.change(screen.getByLabelText('Runners it may register'), { target: { value: '' } });
    fireEvent.change(screen.getByLabelText('Allowed labels'), { target: { value: '' } });
    fireEvent.change(screen.getByLabelText('Expires'), { target: { value: '' } });
    const { BorgApiError } = await import('@borg/protocol');
    client.createToken.mockRejectedValueOnce(new BorgApiError(403, 'FORBIDDEN', 'tokens are off today'));
    fireEvent.click(screen.getByRole('button', { name: 'Create registration token' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('tokens are off today');
    expect(client.createToken).toHaveBeenCalledWith(expect.objectContaining({ expires_in_seconds: undefined }));
    expect(screen.queryByTestId('install-line')).toBeNull();
  });
});

describe.each(['viewer', 'submitter', 'operator'] as const)('as %s', (role) => {
  it('offers no "Add a runner", and /runners/new says an admin adds runners', async () => {
    renderAs(as(role));
    await screen.findByText('old-box');
    expect(screen.queryByRole('link', { name: 'Add a runner' })).toBeNull();
    expect(screen.queryByText('Add a runner')).toBeNull();

    navigate('/runners/new');
    expect(await screen.findByRole('status')).toHaveTextContent(
      `This token cannot add runners: that takes a registration token, which only an admin creates. Needs the admin role; this token is ${role === 'operator' ? 'an' : 'a'} ${role}.`,
    );
    expect(screen.queryByRole('button', { name: 'Create registration token' })).toBeNull();
    expect(screen.queryByLabelText('Allowed labels')).toBeNull();
    expect(client.createToken).not.toHaveBeenCalled();
  });
});

describe("the solder's version", () => {
  it('is a column of the runner list (hidden on small screens), "—" when the solder sent none', async () => {
    renderAs(as('viewer'));
    await screen.findByText('old-box');
    const header = screen.getByRole('columnheader', { name: 'Version' });
    expect(header).toHaveClass('hidden', 'sm:table-cell');
    expect(screen.getAllByTestId('runner-version').map((cell) => cell.textContent)).toEqual(['0.4.2', '—']);
  });

  it('is on the runner page', async () => {
    renderAs(as('viewer'), <RunnerDetailPage id={OLD.id} />);
    const spec = await screen.findByTestId('runner-spec');
    expect(within(spec).getByText('Version').nextElementSibling).toHaveTextContent('0.4.2');
  });
});

describe('the job types a runner takes', () => {
  it('are on the runner page: every type when its solder said none, else the list and why container is missing', async () => {
    renderAs(as('viewer'), <RunnerDetailPage id={OLD.id} />);
    const spec = await screen.findByTestId('runner-spec');
    expect(within(spec).getByText('Job types').nextElementSibling).toHaveTextContent(/^every type$/);
    cleanup();
    client.getRunner.mockResolvedValueOnce({ ...OLD, job_types: ['shell', 'binary'] });
    renderAs(as('viewer'), <RunnerDetailPage id={OLD.id} />);
    const narrowed = await screen.findByTestId('runner-spec');
    expect(within(narrowed).getByText('Job types').nextElementSibling).toHaveTextContent(
      'shell, binary (no container jobs: no container CLI works, or --job-types)',
    );
  });
});

describe('the install line, piece by piece', () => {
  it('groups allowed labels by key; `*` allows any value of its key', () => {
    expect(parseAllowedLabels('')).toEqual({ value: undefined });
    expect(parseAllowedLabels(' pool = gpu ,zone=a,zone=b,zone=a\nos=*,os=linux')).toEqual({
      value: { pool: 'gpu', zone: ['a', 'b'], os: '*' },
    });
    expect(parseAllowedLabels('=x').error).toBe('"=x" is not key=value');
    expect(parseAllowedLabels('no spaces=x').error).toMatch(/is not a label key/);
  });

  it("takes a runner's labels one value a key, and prefills them from single allowed values", () => {
    expect(parseRunnerLabels('a=1, b=2')).toEqual({ value: { a: '1', b: '2' } });
    expect(parseRunnerLabels('a=1,a=2').error).toMatch(/given twice/);
    expect(singleValueLabels({ pool: 'gpu', zone: ['a', 'b'], cuda: '*' })).toBe('pool=gpu');
    expect(singleValueLabels(undefined)).toBe('');
  });

  it("applies the mothership's rule to a runner's labels", () => {
    const allowed = { pool: ['a', 'b'], zone: '*' };
    expect(labelsRefused({ pool: 'a', zone: 'x', os: 'linux', arch: 'arm64', gpu: 'false' }, allowed)).toEqual([]);
    expect(labelsRefused({ pool: 'c', gpu: 'true', team: 'x' }, allowed)).toEqual(['pool=c', 'gpu=true', 'team=x']);
    expect(labelsRefused({ anything: 'x' }, undefined)).toEqual([]);
  });

  it('quotes what the shell would otherwise read', () => {
    expect(shellWord('borg_reg_abc-DEF_1')).toBe('borg_reg_abc-DEF_1');
    expect(shellWord("it's $HOME")).toBe(`'it'\\''s $HOME'`);
    expect(installLine({ origin: 'https://borg.example.com', token: 't', labels: { team: 'a b' } })).toBe(
      "curl -fsSL https://borg.example.com/install.sh | sh -s -- --registration-token t --labels 'team=a b'",
    );
  });
});
