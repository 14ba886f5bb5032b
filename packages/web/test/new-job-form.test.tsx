// @vitest-environment jsdom
import '@testing-library/jest-dom/vitest';

import { BorgApiError, type FileInfo } from '@borg/protocol';
import { cleanup, fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';

import type { UploadFn } from '../src/lib/upload.ts';
import { fieldOfIssue, NewJobForm, parsePairs, serverFieldErrors } from '../src/pages/jobs/new-job.tsx';

afterEach(cleanup);

const change = (label: string | RegExp, value: string) =>
  fireEvent.change(screen.getByLabelText(label), { target: { value } });
const submit = () => fireEvent.click(screen.getByRole('button', { name: 'Submit job' }));

/** An upload the test finishes by hand: it reports progress, then resolves (or fails). */
function controlledUpload() {
  const calls: Array<{
    file: File;
    progress: (sent: number, total: number) => void;
    resolve: (info: FileInfo) => void;
    reject: (e: unknown) => void;
  }> = [];
  const upload: UploadFn = (file, progress) =>
    new Promise((resolve, reject) => calls.push({ file, progress, resolve, reject }));
  return { upload, calls };
}

const info = (id: string, name: string, size: number): FileInfo => ({
  id,
  filename: name,
  size,
  sha256: 'ab'.repeat(32),
  content_type: 'application/octet-stream',
  created_at: '2026-01-01T00:00:00.000Z',
});

describe('NewJobForm', () => {
  it('builds a shell job request from every field', async () => {
    const onSubmit = vi.fn(async () => undefined);
    render(<NewJobForm onSubmit={onSubmit} />);
    change('Name', ' build ');
    change('Shell command', 'echo hi');
    change(/Environment/, 'A=1\nB=x=y\n');
    change(/runner labels/, 'gpu=yes');
    change('Priority', '5');
    change('Attempts', '3');
    change('Timeout', '60');
    change('Array size', '4');
    change(/Artifacts/, 'out/*.txt\n\nreport.html');
    submit();
    await vi.waitFor(() => expect(onSubmit).toHaveBeenCalled());
    expect(onSubmit).toHaveBeenCalledWith({
      name: 'build',
      type: 'shell',
      command: 'echo hi',
      image: undefined,
      env: { A: '1', B: 'x=y' },
      labels: { gpu: 'yes' },
      priority: 5,
      max_attempts: 3,
      timeout_seconds: 60,
      array_size: 4,
      artifacts: ['out/*.txt', 'report.html'],
      files: [],
      // No dependencies from the form: the request says so explicitly.
      depends_on: [],
      inputs_from: [],
      unsatisfiable: 'reject',
    });
  });

  it('takes an argv for binary jobs and an image for container jobs', async () => {
    const onSubmit = vi.fn(async () => undefined);
    render(<NewJobForm onSubmit={onSubmit} />);
    change('Name', 'c');
    fireEvent.click(screen.getByRole('radio', { name: 'container' }));
    change(/Command \(one argument per line\)/, 'python3\n-c\nprint( 1 )  ');
    submit();
    expect(await screen.findByText('a container job needs an image')).toBeInTheDocument();
    expect(onSubmit).not.toHaveBeenCalled();
    change('Image', 'alpine:3.20');
    submit();
    await vi.waitFor(() => expect(onSubmit).toHaveBeenCalled());
    expect(onSubmit).toHaveBeenCalledWith(
      expect.objectContaining({ type: 'container', image: 'alpine:3.20', command: ['python3', '-c', 'print( 1 )'] }),
    );
  });

  it("runs a container job as the user given (uid or uid:gid), blank being the image's own", async () => {
    const onSubmit = vi.fn(async () => undefined);
    render(<NewJobForm onSubmit={onSubmit} />);
    expect(screen.queryByLabelText('Run as user')).toBeNull();
    change('Name', 'c');
    fireEvent.click(screen.getByRole('radio', { name: 'container' }));
    change('Image', 'alpine:3.20');
    change(/Command \(one argument per line\)/, 'id');
    change('Run as user', 'root');
    submit();
    expect(screen.getByLabelText('Run as user')).toHaveAccessibleDescription(
      /^a container user is a numeric uid or uid:gid/,
    );
    expect(onSubmit).not.toHaveBeenCalled();
    change('Run as user', ' 1000:100 ');
    submit();
    await vi.waitFor(() => expect(onSubmit).toHaveBeenCalledTimes(1));
    expect(onSubmit).toHaveBeenLastCalledWith(expect.objectContaining({ image: 'alpine:3.20', user: '1000:100' }));
    change('Run as user', '');
    submit();
    await vi.waitFor(() => expect(onSubmit).toHaveBeenCalledTimes(2));
    expect(onSubmit).toHaveBeenLastCalledWith(expect.not.objectContaining({ user: expect.anything() }));
  });

  it('puts each problem next to its field and submits nothing', async () => {
    const onSubmit = vi.fn(async () => undefined);
    render(<NewJobForm onSubmit={onSubmit} />);
    change(/runner labels/, 'gpu');
    change('Priority', 'high');
    submit();
    const name = screen.getByLabelText('Name');
    expect(name).toHaveAttribute('aria-invalid', 'true');
    expect(name).toHaveAccessibleDescription('a job needs a name');
    expect(screen.getByLabelText('Shell command')).toHaveAccessibleDescription(/a job needs a command/);
    expect(screen.getByLabelText(/runner labels/)).toHaveAccessibleDescription('labels: "gpu" is not KEY=value');
    expect(screen.getByLabelText('Priority')).toHaveAccessibleDescription(/priority is a whole number/);
    expect(onSubmit).not.toHaveBeenCalled();
  });

  it("shows the server's validation messages next to the fields they name", async () => {
    const refusal = new BorgApiError(400, 'VALIDATION_FAILED', 'body.timeout_seconds: too big', {
      issues: [
        { path: 'body.timeout_seconds', message: 'Too big: expected number to be <=2592000' },
        { path: 'body.files.0.path', message: 'must be a relative path inside the work directory' },
      ],
    });
    const onSubmit = vi.fn(async () => {
      throw refusal;
    });
    render(<NewJobForm onSubmit={onSubmit} />);
    change('Name', 'x');
    change('Shell command', 'true');
    change('Timeout', '600');
    submit();
    await vi.waitFor(() =>
      expect(screen.getByLabelText('Timeout')).toHaveAccessibleDescription(/Too big: expected number/),
    );
    expect(screen.getByLabelText('Input files')).toHaveAccessibleDescription(/must be a relative path/);
    expect(screen.getByRole('alert')).toHaveTextContent('The job was not submitted');
  });

  it("checks the request with the protocol's CreateJobRequest schema before sending it", async () => {
    const onSubmit = vi.fn(async () => undefined);
    render(<NewJobForm onSubmit={onSubmit} />);
    change('Name', '   ');
    fireEvent.click(screen.getByRole('radio', { name: 'container' }));
    change('Image', '--privileged');
    change(/Command \(one argument per line\)/, 'true');
    change(/runner labels/, 'bad key!=x');
    change('Attempts', '0');
    change('Timeout', '31d');
    submit();
    expect(screen.getByLabelText('Name')).toHaveAccessibleDescription('a job needs a name');
    expect(screen.getByLabelText('Image')).toHaveAccessibleDescription(/an image is a reference such as "alpine:3.20"/);
    expect(screen.getByLabelText(/runner labels/)).toHaveAccessibleDescription(/^"bad key!": label keys are 1-63/);
    expect(screen.getByLabelText('Attempts')).toHaveAccessibleDescription(/Too small: expected number to be >=1/);
    expect(screen.getByLabelText('Timeout')).toHaveAccessibleDescription(
      /^the timeout is at most 30d \(2592000 seconds\)/,
    );
    expect(screen.getByRole('alert')).toHaveTextContent('The job was not submitted');
    expect(onSubmit).not.toHaveBeenCalled();
  });

  it('shows a refusal that names no field above the button', async () => {
    render(
      <NewJobForm
        onSubmit={async () => {
          throw new BorgApiError(503, 'DATABASE_UNAVAILABLE', 'the database is unavailable; retry shortly');
        }}
      />,
    );
    change('Name', 'x');
    change('Shell command', 'true');
    submit();
    expect(await screen.findByRole('alert')).toHaveTextContent('the database is unavailable; retry shortly');
  });

  it('uploads input files at once with a progress bar each, and submits them with their paths', async () => {
    const { upload, calls } = controlledUpload();
    const onSubmit = vi.fn(async () => undefined);
    render(<NewJobForm onSubmit={onSubmit} upload={upload} />);
    change('Name', 'with files');
    change('Shell command', 'cat data/in.csv');
    const file = new File(['a,b\n1,2\n'], 'in.csv');
    fireEvent.change(screen.getByLabelText('Input files'), { target: { files: [file] } });
    expect(calls).toHaveLength(1);

    const bar = screen.getByRole('progressbar', { name: 'Upload of in.csv' });
    expect(bar).toHaveAttribute('value', '0');
    expect(screen.getByRole('button', { name: 'Uploading…' })).toBeDisabled();
    calls[0]!.progress(4, 8);
    await vi.waitFor(() => expect(bar).toHaveAttribute('value', '4'));
    expect(within(screen.getByTestId('input-file')).getByText('50%')).toBeInTheDocument();

    change('Path of in.csv', 'data/in.csv');
    calls[0]!.resolve(info('f-1', 'in.csv', 8));
    await vi.waitFor(() => expect(screen.getByRole('button', { name: 'Submit job' })).toBeEnabled());
    expect(bar).toHaveAttribute('value', '8');
    submit();
    await vi.waitFor(() => expect(onSubmit).toHaveBeenCalled());
    expect(onSubmit).toHaveBeenCalledWith(
      expect.objectContaining({ files: [{ file_id: 'f-1', path: 'data/in.csv' }] }),
    );
  });

  it('reports a failed upload and lets it be removed', async () => {
    const { upload, calls } = controlledUpload();
    const onSubmit = vi.fn(async () => undefined);
    render(<NewJobForm onSubmit={onSubmit} upload={upload} />);
    change('Name', 'x');
    change('Shell command', 'true');
    fireEvent.change(screen.getByLabelText('Input files'), { target: { files: [new File(['x'], 'big.bin')] } });
    calls[0]!.reject(new BorgApiError(413, 'PAYLOAD_TOO_LARGE', 'the file is larger than the 1 GiB limit'));
    expect(await screen.findByText('the file is larger than the 1 GiB limit')).toBeInTheDocument();
    submit();
    expect(screen.getByLabelText('Input files')).toHaveAccessibleDescription(/remove the files that failed/);
    expect(onSubmit).not.toHaveBeenCalled();
    fireEvent.click(screen.getByRole('button', { name: 'Remove' }));
    submit();
    await vi.waitFor(() => expect(onSubmit).toHaveBeenCalledWith(expect.objectContaining({ files: [] })));
  });
});

describe('NewJobForm placement', () => {
  const fill = () => {
    change('Name', 'train');
    change('Shell command', 'python train.py');
  };

  it('sends the resources and constraints filled in, and asks to be refused when no runner could take the job', async () => {
    const onSubmit = vi.fn(async () => undefined);
    render(<NewJobForm onSubmit={onSubmit} />);
    fill();
    change('CPU', '1.5');
    change('Memory (MB)', '8192');
    change('GPUs', '2');
    change('GPU memory (MB)', '40000');
    change('Constraints (one per line)', 'gpu_model in (A100, H100)\n\n  os != windows  \n');
    submit();
    await vi.waitFor(() => expect(onSubmit).toHaveBeenCalled());
    expect(onSubmit).toHaveBeenCalledWith(
      expect.objectContaining({
        resources: { cpu: 1.5, memory_mb: 8192, gpus: 2, gpu_memory_mb: 40000 },
        constraints: ['gpu_model in (A100, H100)', 'os != windows'],
        unsatisfiable: 'reject',
      }),
    );
  });

  it('sends no resources or constraints when none are filled in', async () => {
    const onSubmit = vi.fn(async (_job: object) => undefined);
    render(<NewJobForm onSubmit={onSubmit} />);
    fill();
    change('Memory (MB)', '512');
    submit();
    await vi.waitFor(() => expect(onSubmit).toHaveBeenCalled());
    const sent = onSubmit.mock.calls[0]![0] as Record<string, unknown>;
    expect(sent.resources).toEqual({ memory_mb: 512 });
    expect(sent.constraints).toBeUndefined();
  });

  it('puts resource and constraint problems next to their fields', async () => {
    const onSubmit = vi.fn(async () => undefined);
    render(<NewJobForm onSubmit={onSubmit} />);
    fill();
    change('GPU memory (MB)', '1000');
    change('Memory (MB)', '0');
    change('Constraints (one per line)', 'zone exists\nmemory_gb >= lots');
    submit();
    expect(screen.getByLabelText('GPU memory (MB)')).toHaveAccessibleDescription(/ask for gpus too/);
    expect(screen.getByLabelText('Memory (MB)')).toHaveAccessibleDescription(/Too small: expected number to be >=1/);
    expect(screen.getByLabelText('Constraints (one per line)')).toHaveAccessibleDescription(
      /constraint "memory_gb >= lots": ">=" compares numbers; "lots" is not one/,
    );
    expect(screen.getByRole('alert')).toHaveTextContent('The job was not submitted');
    expect(onSubmit).not.toHaveBeenCalled();
  });

  it("shows the server's resource messages next to their fields", async () => {
    const refusal = new BorgApiError(400, 'VALIDATION_FAILED', 'bad', {
      issues: [{ path: 'body.resources.gpus', message: 'Too big: expected number to be <=64' }],
    });
    render(
      <NewJobForm
        onSubmit={async () => {
          throw refusal;
        }}
      />,
    );
    fill();
    change('GPUs', '8');
    submit();
    await vi.waitFor(() => expect(screen.getByLabelText('GPUs')).toHaveAccessibleDescription(/Too big/));
  });

  it('on 422 UNSATISFIABLE shows each runner with its reasons, and can queue the job anyway', async () => {
    const refusal = new BorgApiError(422, 'UNSATISFIABLE', 'no runner could ever take this job', {
      runners: [
        {
          runner_id: '00000000-0000-4000-8000-0000000000aa',
          runner_name: 'gpu-box',
          eligible: false,
          reasons: ['gpus: needs 4, has 2', 'constraint gpu_model in (H100): has A100'],
        },
        {
          runner_id: '00000000-0000-4000-8000-0000000000bb',
          runner_name: 'mac-mini',
          eligible: false,
          reasons: ['gpus: needs 4, has 0'],
        },
      ],
    });
    const onSubmit = vi.fn(async (job: { unsatisfiable?: string }) => {
      if (job.unsatisfiable === 'reject') throw refusal;
    });
    render(<NewJobForm onSubmit={onSubmit} />);
    fill();
    change('GPUs', '4');
    submit();
    const report = await screen.findByTestId('unsatisfiable-report');
    expect(report).toHaveAttribute('role', 'alert');
    expect(report).toHaveTextContent('no runner could ever take this job');
    expect(within(report).getByRole('list', { name: 'Why not gpu-box' })).toHaveTextContent(
      'gpus: needs 4, has 2constraint gpu_model in (H100): has A100',
    );
    expect(within(report).getByRole('link', { name: 'mac-mini' })).toHaveAttribute(
      'href',
      '/runners/00000000-0000-4000-8000-0000000000bb',
    );
    expect(screen.queryByTestId('field-error')).toBeNull();

    fireEvent.click(within(report).getByRole('checkbox', { name: /Queue it anyway/ }));
    submit();
    await vi.waitFor(() => expect(onSubmit).toHaveBeenCalledTimes(2));
    expect(onSubmit).toHaveBeenLastCalledWith(
      expect.objectContaining({ unsatisfiable: 'queue', resources: { gpus: 4 } }),
    );
    await vi.waitFor(() => expect(screen.queryByTestId('unsatisfiable-report')).toBeNull());
  });
});

describe('form helpers', () => {
  it('parses KEY=value lines', () => {
    expect(parsePairs('\n', 'env')).toBeUndefined();
    expect(parsePairs(' A = 1 \nB=', 'env')).toEqual({ 'A ': ' 1', B: '' });
    expect(() => parsePairs('=x', 'env')).toThrow('env: "=x" is not KEY=value');
  });

  it('maps server issue paths to fields', () => {
    expect(fieldOfIssue('body.command')).toBe('command');
    expect(fieldOfIssue('body.files.3.path')).toBe('files');
    expect(fieldOfIssue('body.resources.gpu_memory_mb')).toBe('resources.gpu_memory_mb');
    expect(fieldOfIssue('body.constraints.1')).toBe('constraints');
    expect(fieldOfIssue('body')).toBe('form');
    expect(serverFieldErrors(new Error('offline'))).toEqual({ form: 'offline' });
  });
});
