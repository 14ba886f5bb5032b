// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import type { JobWithTasks, Runner, Task, TaskGpuSamples, TaskPlacement } from '@borg/protocol';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { act, cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import type { ReactNode } from 'react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import type * as ApiModule from '../src/lib/api.ts';
import { navigate } from '../src/lib/router.ts';
import { JobDetailPage } from '../src/pages/jobs/job-detail-page.tsx';
import { JobsPage } from '../src/pages/jobs/jobs-page.tsx';
import { describeWait, verdictsInOrder } from '../src/pages/jobs/placement-details.tsx';
import { describeResourceRequest } from '../src/pages/jobs/resource-request.tsx';
import { GPU_REFRESH_MS, lastAndPeak } from '../src/pages/jobs/task-gpu-charts.tsx';
import { RunnerDetailPage } from '../src/pages/runners/runner-detail-page.tsx';
import { gpuMemoryUsed } from '../src/pages/runners/runner-gpus.tsx';
import { RunnersPage } from '../src/pages/runners/runners-page.tsx';
import { jobWithTasksOf, runnerOf, taskOf } from './fixtures.ts';

const client = vi.hoisted(() => ({
  getJob: vi.fn(),
  listJobs: vi.fn(),
  getRunner: vi.fn(),
  listRunners: vi.fn(),
  runnerTasks: vi.fn(),
  getTaskLogs: vi.fn(async () => ({ items: [] })),
  listArtifacts: vi.fn(async () => ({ items: [] })),
  getTaskPlacement: vi.fn(),
  getJobPlacement: vi.fn(),
  getTaskGpus: vi.fn(),
  stats: vi.fn(async () => ({ runner_offline_after_seconds: 90 })),
}));
vi.mock('../src/lib/api.ts', async (importOriginal) => ({
  ...(await importOriginal<typeof ApiModule>()),
  api: () => client,
}));

const at = '2026-01-01T00:00:00.000Z';
const JOB = '00000000-0000-4000-8000-00000000000j';
const RUNNER = '00000000-0000-4000-8000-0000000000aa';
const OTHER_RUNNER = '00000000-0000-4000-8000-0000000000bb';

const task = (id: string, index: number, attempt: number, status: Task['status'], extra: Partial<Task> = {}): Task =>
  taskOf({ id, job_id: JOB, index, attempt, status, ...extra });

const job = (extra: Partial<JobWithTasks> = {}): JobWithTasks =>
  jobWithTasksOf({ id: JOB, name: 'train', status: 'running', command: 'python train.py', ...extra });

const runner = (extra: Partial<Runner> = {}): Runner =>
  runnerOf({
    id: RUNNER,
    name: 'gpu-box',
    hostname: 'gpu-box.local',
    version: '0.5.0',
    max_concurrent_tasks: 4,
    active_tasks: 1,
    labels: { zone: 'b' },
    ...extra,
  });

const placement = (extra: Partial<TaskPlacement> = {}): TaskPlacement => ({
  task_id: 't-pending',
  status: 'pending',
  position: 3,
  estimated_wait_seconds: 125,
  job_reasons: [],
  runners: [
    {
      runner_id: OTHER_RUNNER,
      runner_name: 'mac-mini',
      eligible: false,
      reasons: ['label os: wants linux, has darwin'],
    },
    { runner_id: RUNNER, runner_name: 'gpu-box', eligible: true, reasons: [] },
  ],
  runners_not_listed: 9,
  summary: 'gpus: needs 2, 1 free',
  ...extra,
});

const samples = (points: Array<[number | null, number | null]>): TaskGpuSamples['items'][number]['samples'] =>
  points.map(([utilization_pct, memory_used_mb], i) => ({
    at: new Date(Date.parse(at) + i * 5000).toISOString(),
    utilization_pct,
    memory_used_mb,
  }));

function renderPage(page: ReactNode) {
  return render(
    <QueryClientProvider client={new QueryClient({ defaultOptions: { queries: { retry: false } } })}>
      {page}
    </QueryClientProvider>,
  );
}

beforeEach(() => {
  vi.clearAllMocks();
  client.listRunners.mockResolvedValue({ items: [runner()], next_cursor: null });
  client.runnerTasks.mockResolvedValue({ items: [] });
});
afterEach(cleanup);

describe('placement helpers', () => {
  it('puts eligible runners first, keeping the order within each group', () => {
    const verdicts = [
      { runner_id: 'a', runner_name: 'a', eligible: false, reasons: ['offline'] },
      { runner_id: 'b', runner_name: 'b', eligible: true, reasons: [] },
      { runner_id: 'c', runner_name: 'c', eligible: false, reasons: ['draining'] },
      { runner_id: 'd', runner_name: 'd', eligible: true, reasons: [] },
    ];
    expect(verdictsInOrder(verdicts).map((v) => v.runner_id)).toEqual(['b', 'd', 'a', 'c']);
  });

  it('says where the task stands and how long it may wait, or that there is no estimate', () => {
    expect(describeWait(placement())).toBe('Number 3 in line for these runners; about 2 min 5 s to wait.');
    expect(describeWait(placement({ position: null, estimated_wait_seconds: null }))).toBe(
      'Not in line; no estimate of the wait yet.',
    );
  });

  it('describes a resource request in words', () => {
    expect(describeResourceRequest({})).toBe('');
    expect(describeResourceRequest({ cpu: 1, memory_mb: 8192, gpus: 2, gpu_memory_mb: 40_960 })).toBe(
      '1 CPU, 8.0 GiB memory, 2 GPUs with 40 GiB free each',
    );
    expect(describeResourceRequest({ cpu: 0.5, gpus: 1 })).toBe('0.5 CPUs, 1 GPU');
  });

  it("reads a GPU series' last value and peak, skipping gaps", () => {
    expect(lastAndPeak([10, 90, null, 40, null])).toEqual({ last: 40, peak: 90 });
    expect(lastAndPeak([null])).toEqual({ last: null, peak: null });
  });

  it("works out a GPU's memory in use when the sample has only the free memory", () => {
    const gpu = runnerGpu({ memory_used_mb: null, memory_mb: 81_920, memory_free_mb: 61_440 });
    expect(gpuMemoryUsed(gpu)).toBe(20_480);
    expect(gpuMemoryUsed({ ...gpu, memory_free_mb: null })).toBeNull();
  });
});

describe('"Why pending?" on the job page', () => {
  beforeEach(() => {
    navigate(`/jobs/${JOB}`);
    client.getJob.mockResolvedValue(
      job({
        status: 'running',
        array_size: 2,
        tasks: [
          task('t-running', 0, 1, 'running', { runner_id: RUNNER, started_at: at }),
          task('t-pending', 1, 1, 'pending'),
        ],
      }),
    );
    client.getTaskPlacement.mockResolvedValue(placement());
  });

  it('is offered on pending attempts only, and fetches nothing until opened', async () => {
    renderPage(<JobDetailPage id={JOB} />);
    const rows = await screen.findAllByTestId('task-row');
    expect(within(rows[0]!).queryByRole('button', { name: 'Why pending?' })).toBeNull();
    const why = within(rows[1]!).getByRole('button', { name: 'Why pending?' });
    expect(why).toHaveAttribute('aria-expanded', 'false');
    expect(client.getTaskPlacement).not.toHaveBeenCalled();

    fireEvent.click(why);
    expect(why).toHaveAttribute('aria-expanded', 'true');
    const panel = screen.getByRole('region', { name: 'Why element 1, attempt 1 is pending' });
    expect(why).toHaveAttribute('aria-controls', panel.id);
    expect(await within(panel).findByTestId('placement-wait')).toHaveTextContent(
      'Number 3 in line for these runners; about 2 min 5 s to wait.',
    );
    expect(client.getTaskPlacement).toHaveBeenCalledWith('t-pending');

    fireEvent.click(why);
    expect(why).toHaveAttribute('aria-expanded', 'false');
    expect(screen.queryByRole('region', { name: /is pending/ })).toBeNull();
  });

  it('lists the runners eligible first, each with its reasons, and counts those not listed', async () => {
    renderPage(<JobDetailPage id={JOB} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Why pending?' }));
    const panel = screen.getByTestId('placement');
    const listed = await within(panel).findAllByTestId('placement-runner');
    expect(listed.map((li) => li.textContent)).toEqual([
      'gpu-box eligible',
      'mac-mini label os: wants linux, has darwin',
    ]);
    expect(within(listed[1]!).getByRole('link', { name: 'mac-mini' })).toHaveAttribute(
      'href',
      `/runners/${OTHER_RUNNER}`,
    );
    expect(within(listed[1]!).getByRole('list', { name: 'Why not mac-mini' })).toHaveTextContent(
      'label os: wants linux, has darwin',
    );
    expect(within(panel).getByTestId('runners-not-listed')).toHaveTextContent('9 more runners not listed');
  });

  it("shows the job's own reasons, and says when the task stopped waiting meanwhile", async () => {
    client.getTaskPlacement.mockResolvedValueOnce(
      placement({ job_reasons: ['job paused', 'backoff until 12:03:10'], runners: [], runners_not_listed: 0 }),
    );
    renderPage(<JobDetailPage id={JOB} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Why pending?' }));
    const reasons = await screen.findByRole('list', { name: 'Held by the job' });
    expect(
      within(reasons)
        .getAllByRole('listitem')
        .map((li) => li.textContent),
    ).toEqual(['job paused', 'backoff until 12:03:10']);
    expect(screen.getByText('No runner is registered.')).toBeInTheDocument();
    cleanup();

    client.getTaskPlacement.mockResolvedValueOnce(placement({ status: 'running', position: null }));
    renderPage(<JobDetailPage id={JOB} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Why pending?' }));
    expect(await screen.findByText('This attempt is no longer pending (it is running).')).toBeInTheDocument();
  });

  it("shows the server's refusal in the panel, with a way to ask again", async () => {
    client.getTaskPlacement.mockRejectedValueOnce(new Error('not found'));
    renderPage(<JobDetailPage id={JOB} />);
    fireEvent.click(await screen.findByRole('button', { name: 'Why pending?' }));
    const panel = screen.getByTestId('placement');
    expect(await within(panel).findByRole('alert')).toHaveTextContent('not found');
    fireEvent.click(within(panel).getByRole('button', { name: 'Try again' }));
    expect(await within(panel).findByTestId('placement-wait')).toBeInTheDocument();
  });
});

describe("the job's resources and constraints", () => {
  it('shows them in the specification, and marks a job no runner could take at submit', async () => {
    navigate(`/jobs/${JOB}`);
    client.getJob.mockResolvedValue(
      job({
        status: 'queued',
        resources: { cpu: 2, memory_mb: 8192, gpus: 2, gpu_memory_mb: 40_960 },
        constraints: ['gpu_model in (A100, H100)', 'memory_gb >= 64'],
        unsatisfiable: true,
        tasks: [task('t-pending', 0, 1, 'pending')],
      }),
    );
    renderPage(<JobDetailPage id={JOB} />);
    expect(await screen.findByTestId('unsatisfiable')).toHaveTextContent('unsatisfiable at submit');
    const spec = screen.getByTestId('job-spec');
    expect(within(spec).getByText('2 CPUs, 8.0 GiB memory, 2 GPUs with 40 GiB free each')).toBeInTheDocument();
    expect(
      within(spec)
        .getAllByTestId('job-constraint')
        .map((li) => li.textContent),
    ).toEqual(['gpu_model in (A100, H100)', 'memory_gb >= 64']);
  });

  it('says a job without requests takes a slot, and leaves out the badge', async () => {
    navigate(`/jobs/${JOB}`);
    client.getJob.mockResolvedValue(job());
    renderPage(<JobDetailPage id={JOB} />);
    const spec = await screen.findByTestId('job-spec');
    expect(within(spec).getByText('a slot, nothing more')).toBeInTheDocument();
    expect(screen.queryByTestId('unsatisfiable')).toBeNull();
    expect(screen.queryByRole('columnheader', { name: 'GPUs' })).toBeNull();
  });
});

describe("an attempt's GPUs", () => {
  const gpuJob = (status: Task['status']) =>
    job({
      resources: { gpus: 2 },
      tasks: [
        task('t-old', 0, 1, 'lost', { runner_id: RUNNER, gpus: [{ index: 2, uuid: 'GPU-cc' }], reason: 'runner_lost' }),
        task('t-gpu', 0, 2, status, {
          runner_id: RUNNER,
          started_at: at,
          completed_at: status === 'running' ? null : at,
          gpus: [
            { index: 0, uuid: 'GPU-aa' },
            { index: 1, uuid: 'GPU-bb' },
          ],
        }),
      ],
    });
  const gpuSamples: TaskGpuSamples = {
    items: [
      {
        index: 1,
        samples: samples([
          [20, 1024],
          [95, 30_720],
          [87, 20_480],
        ]),
      },
      {
        index: 0,
        samples: samples([
          [null, null],
          [50, 2048],
        ]),
      },
    ],
  };

  /** Time passing for the refetch interval alone (TanStack Query's setInterval); promises settle as usual. */
  const pass = (ms: number) => act(() => vi.advanceTimersByTime(ms));
  /** Lets a fetch the interval started answer (timeouts are real here). */
  const settle = () => act(() => new Promise((resolve) => setTimeout(resolve, 20)));

  beforeEach(() => {
    navigate(`/jobs/${JOB}?task=t-gpu`);
    client.getTaskGpus.mockResolvedValue(gpuSamples);
  });
  afterEach(() => vi.useRealTimers());

  it('shows the devices of every attempt, and a chart of each GPU the selected one holds', async () => {
    client.getJob.mockResolvedValue(gpuJob('running'));
    renderPage(<JobDetailPage id={JOB} />);
    const groups = await screen.findAllByTestId('gpu-charts');
    expect(screen.getByRole('columnheader', { name: 'GPUs' })).toBeInTheDocument();
    const [old, current] = screen.getAllByTestId('task-row');
    expect(within(old!).getByTestId('assigned-gpus')).toHaveTextContent('GPU 2');
    expect(within(current!).getByTestId('assigned-gpus')).toHaveTextContent('GPUs 0, 1');
    expect(within(current!).getByTitle('GPU-bb')).toHaveTextContent('1');

    expect(groups.map((g) => g.getAttribute('aria-label'))).toEqual(['GPU 0', 'GPU 1']);
    expect(screen.getAllByTestId('chart')).toHaveLength(4);
    const gpu1 = within(groups[1]!);
    expect(gpu1.getByRole('img', { name: 'GPU 1 utilisation: now 87%, peak 95%' })).toBeInTheDocument();
    expect(gpu1.getByRole('img', { name: 'GPU 1 memory used: now 20 GiB, peak 30 GiB' })).toBeInTheDocument();
    expect(within(groups[0]!).getByRole('img', { name: 'GPU 0 utilisation: now 50%, peak 50%' })).toBeInTheDocument();
    expect(client.getTaskGpus).toHaveBeenCalledWith('t-gpu');
  });

  it('fetches the samples again every few seconds while the attempt runs, and not after', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    client.getJob.mockResolvedValue(gpuJob('running'));
    renderPage(<JobDetailPage id={JOB} />);
    await screen.findAllByTestId('gpu-charts');
    expect(client.getTaskGpus).toHaveBeenCalledTimes(1);
    pass(GPU_REFRESH_MS);
    await settle();
    expect(client.getTaskGpus).toHaveBeenCalledTimes(2);
    pass(GPU_REFRESH_MS);
    await settle();
    expect(client.getTaskGpus).toHaveBeenCalledTimes(3);
    cleanup();

    client.getTaskGpus.mockClear();
    client.getJob.mockResolvedValue(gpuJob('succeeded'));
    renderPage(<JobDetailPage id={JOB} />);
    expect(await screen.findByRole('img', { name: 'GPU 1 utilisation: last 87%, peak 95%' })).toBeInTheDocument();
    // A finished attempt's charts end at their last sample: GPU 1 sampled for 10 s, GPU 0 for 5 s.
    expect(screen.getAllByText(/^last sample, /).map((e) => e.textContent)).toEqual([
      'last sample, 5 s later',
      'last sample, 5 s later',
      'last sample, 10 s later',
      'last sample, 10 s later',
    ]);
    pass(GPU_REFRESH_MS * 3);
    await settle();
    expect(client.getTaskGpus).toHaveBeenCalledTimes(1);
  });

  it('asks for no samples for an attempt that held no GPU', async () => {
    navigate(`/jobs/${JOB}`);
    client.getJob.mockResolvedValue(job({ tasks: [task('t-cpu', 0, 1, 'running', { started_at: at })] }));
    renderPage(<JobDetailPage id={JOB} />);
    expect(await screen.findAllByTestId('task-row')).toHaveLength(1);
    expect(screen.queryByTestId('chart')).toBeNull();
    expect(client.getTaskGpus).not.toHaveBeenCalled();
  });
});

describe('the reason column of the jobs list', () => {
  beforeEach(() => navigate('/jobs'));

  it("asks for the placement of queued jobs only, and shows each one's summary", async () => {
    const queued = job({ id: 'q1', name: 'queued one', status: 'queued' });
    const stuck = job({ id: 'q2', name: 'stuck one', status: 'queued', unsatisfiable: true });
    const running = job({ id: 'r1', name: 'running one', status: 'running' });
    client.listJobs.mockResolvedValue({ items: [queued, stuck, running], next_cursor: null });
    client.getJobPlacement.mockImplementation(async (id: string) =>
      id === 'q1' ? placement({ summary: 'gpus: needs 2, 1 free' }) : placement({ summary: null }),
    );
    renderPage(<JobsPage />);
    expect(await screen.findByRole('columnheader', { name: 'Reason' })).toBeInTheDocument();
    const rows = await screen.findAllByTestId('job-row');
    await vi.waitFor(() =>
      expect(within(rows[0]!).getByTestId('pending-reason')).toHaveTextContent('gpus: needs 2, 1 free'),
    );
    expect(within(rows[0]!).getByTestId('pending-reason')).toHaveAttribute('title', 'gpus: needs 2, 1 free');
    await vi.waitFor(() => expect(within(rows[1]!).getByTestId('pending-reason')).toHaveTextContent('unsatisfiable'));
    expect(within(rows[2]!).queryByTestId('pending-reason')).toBeNull();
    expect(client.getJobPlacement.mock.calls.map(([id]) => id).sort()).toEqual(['q1', 'q2']);
  });

  it('shows a dash when the reason cannot be had', async () => {
    client.listJobs.mockResolvedValue({ items: [job({ id: 'q1', status: 'queued' })], next_cursor: null });
    client.getJobPlacement.mockRejectedValue(new Error('not found'));
    renderPage(<JobsPage />);
    const reason = await screen.findByTestId('pending-reason');
    await vi.waitFor(() => expect(reason).toHaveTextContent('—'));
  });
});

function runnerGpu(extra: Partial<Runner['gpus'][number]> = {}): Runner['gpus'][number] {
  return {
    index: 0,
    uuid: 'GPU-aa',
    model: 'NVIDIA A100-SXM4-80GB',
    memory_mb: 81_920,
    memory_free_mb: 51_200,
    utilization_pct: 87.4,
    memory_used_mb: 30_720,
    sampled_at: at,
    task_id: 't-gpu',
    ...extra,
  };
}

describe("the runner's capacity and GPUs", () => {
  const gpuRunner = runner({
    capacity: { cpu: 16, memory_mb: 65_536, cpu_used: 2.5, memory_used_mb: 8192 },
    gpus: [
      runnerGpu({ index: 1, uuid: 'GPU-bb', task_id: null, utilization_pct: null, memory_used_mb: null }),
      runnerGpu(),
    ],
    attributes: { gpu_count: '2', gpu_model: 'A100', os: 'linux' },
  });

  it('shows CPU and memory in use out of what it offers', async () => {
    client.getRunner.mockResolvedValue(gpuRunner);
    renderPage(<RunnerDetailPage id={RUNNER} />);
    const capacity = await screen.findByTestId('runner-capacity');
    expect(capacity).toHaveTextContent('CPU2.5 of 16 in use');
    expect(capacity).toHaveTextContent('Memory8.0 GiB of 64 GiB in use');
    const cpu = within(capacity).getByRole('meter', { name: 'CPU in use' });
    expect(cpu).toHaveAttribute('value', '2.5');
    expect(cpu).toHaveAttribute('max', '16');
    expect(screen.getByText('gpu_count=2, gpu_model=A100, os=linux')).toBeInTheDocument();
  });

  it('lists each GPU with its last sample and the task that holds it, linked to the attempt', async () => {
    client.getRunner.mockResolvedValue(gpuRunner);
    client.runnerTasks.mockResolvedValue({
      items: [task('t-gpu', 3, 2, 'running', { runner_id: RUNNER, gpus: [{ index: 0, uuid: 'GPU-aa' }] })],
    });
    renderPage(<RunnerDetailPage id={RUNNER} />);
    const table = await screen.findByRole('table', { name: 'GPUs of gpu-box' });
    const rows = within(table).getAllByTestId('runner-gpu');
    const cells = (row: HTMLElement) =>
      within(row)
        .getAllByRole('cell')
        .map((c) => c.textContent);
    expect(cells(rows[0]!).slice(0, 5)).toEqual(['0', 'NVIDIA A100-SXM4-80GB', '80 GiB', '87%', '30 GiB of 80 GiB']);
    const holder = await within(rows[0]!).findByRole('link', { name: 'task t-gpu (element #3, attempt 2)' });
    expect(holder).toHaveAttribute('href', `/jobs/${JOB}?task=t-gpu`);
    expect(cells(rows[1]!)).toContain('free');
    expect(cells(rows[1]!)[3]).toBe('—');
    expect(cells(rows[1]!)[4]).toBe('30 GiB of 80 GiB');
    // The held task's own line names its devices too.
    expect(within(await screen.findByTestId('runner-task')).getByTestId('assigned-gpus')).toHaveTextContent('GPU 0');
  });

  it('leaves out capacity and the GPU table for a runner that reports neither', async () => {
    client.getRunner.mockResolvedValue(runner());
    renderPage(<RunnerDetailPage id={RUNNER} />);
    await screen.findByTestId('runner-spec');
    expect(screen.queryByTestId('runner-capacity')).toBeNull();
    expect(screen.queryByRole('table', { name: /GPUs of/ })).toBeNull();
  });

  it('counts the GPUs held and present in the runners list', async () => {
    client.listRunners.mockResolvedValue({
      items: [gpuRunner, runner({ id: OTHER_RUNNER, name: 'cpu-box' })],
      next_cursor: null,
    });
    renderPage(<RunnersPage />);
    const counts = await screen.findAllByTestId('runner-gpu-count');
    expect(counts.map((c) => c.textContent)).toEqual(['1 / 2 held', '—']);
  });
});
