import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { Pipeline } from '@borg/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { useTestMothership } from '../../../test/test-mothership.ts';
import { type InProcessSolder, startSolder } from '../../../test/test-solder.ts';
import { adminEnv, borg, CLI_TEST_TIMEOUT_MS, expectOneLineError, spawnBorg, useTempDir, UUID } from './borg-cli.ts';

/** A diamond: prep → left, prep → right, left + right → join; prep's artifact flows to both sides. */
const DIAMOND = `
name: diamond
jobs:
  - name: prep
    command: mkdir -p out && echo from-prep > out/data.txt
    artifacts: ["out/**"]
  - name: left
    command: cat in/out/data.txt
    inputs_from: [{name: prep, artifacts: "out/**", path: in}]
  - name: right
    command: cat in/out/data.txt
    inputs_from:
      - name: prep
        path: in
  - name: join
    command: echo joined
    depends_on: [{name: left}, {name: right}]
  # Runs only if prep fails: skipped here, and the pipeline still went as written.
  - name: alert
    command: echo prep failed
    depends_on: [{name: prep, condition: failed}]
`;

/** prep fails: train and report are skipped, cleanup (condition: failed) runs. */
const FAILING = `
jobs:
  - name: prep
    command: |
      echo "reading the input"
      echo "input.csv: no such file" >&2
      exit 3
  - name: train
    command: echo never
    depends_on: [{name: prep}]
  - name: report
    command: echo never
    depends_on: [{name: train}]
  - name: cleanup
    command: echo cleaning up
    depends_on: [{name: prep, condition: failed}]
`;

describe('borg run: a pipeline file, against a real mothership and solder', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  const mothership = useTestMothership();
  const dir = useTempDir();
  let solder: InProcessSolder;
  const env = () => adminEnv(mothership(), dir());

  beforeAll(async () => {
    solder = await startSolder(mothership(), { maxConcurrentTasks: 4, name: 'pipeline-box' });
  });
  afterAll(async () => {
    await solder?.stop({ cancelRunning: true });
  });

  async function file(name: string, text: string): Promise<string> {
    const path = join(dir(), name);
    await writeFile(path, text);
    return path;
  }

  /** The pipeline `borg run` printed on its first line. */
  async function printedPipeline(stdout: string): Promise<Pipeline> {
    const id = /^pipeline (\S+)/.exec(stdout)?.[1];
    expect(id).toMatch(UUID);
    return mothership().admin.getPipeline(id!);
  }

  it('--follow prints every job and each status change, and exits 0 when the pipeline went as written', async () => {
    const result = await borg(['run', await file('diamond.yaml', DIAMOND), '--follow'], { env: env() });
    expect(result.code, result.stderr).toBe(0);
    const pipeline = await printedPipeline(result.stdout);
    expect(pipeline.name).toBe('diamond');
    expect(pipeline.jobs.map((j) => [j.name, j.status])).toEqual([
      ['prep', 'succeeded'],
      ['left', 'succeeded'],
      ['right', 'succeeded'],
      ['join', 'succeeded'],
      ['alert', 'skipped'],
    ]);
    // The table first: each job with its short id, its status then and what it waits for.
    const [prep, left, , join] = pipeline.jobs;
    expect(result.stdout).toMatch(new RegExp(`\\nprep +${prep!.id.slice(0, 8)} +queued +-`));
    expect(result.stdout).toMatch(new RegExp(`\\nleft +${left!.id.slice(0, 8)} +blocked +prep`));
    expect(result.stdout).toMatch(new RegExp(`\\njoin +${join!.id.slice(0, 8)} +blocked +left, right`));
    expect(result.stdout).toMatch(/\nalert +\S+ +blocked +prep if failed/);
    // Then the changes, as they happened: each job ends once, after it ran.
    for (const name of ['prep', 'left', 'right', 'join']) {
      expect(result.stdout).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d  ${name} +succeeded$`, 'm'));
    }
    expect(result.stdout).toMatch(/^\d\d:\d\d:\d\d {2}alert +skipped: upstream job "prep" .* ended succeeded/m);
    const at = (line: RegExp) => result.stdout.search(line);
    expect(at(/ prep +succeeded$/m)).toBeLessThan(at(/ left +succeeded$/m));
    expect(at(/ left +succeeded$/m)).toBeLessThan(at(/ join +succeeded$/m));
    expect(result.stderr).toMatch(/pipeline \S+ \(diamond\): 4 succeeded, 1 skipped/);
    // The artifact reached both sides.
    const leftLog = await mothership().admin.getTaskLogs((await mothership().admin.getJob(left!.id)).tasks[0]!.id);
    expect(leftLog.items.map((l) => l.message)).toEqual(['from-prep']);
  });

  it('--follow prints the failing job’s log tail and the skipped jobs, and exits 1', async () => {
    const result = await borg(['run', await file('failing.yaml', FAILING), '-f'], { env: env() });
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout).toMatch(/^\d\d:\d\d:\d\d {2}prep +failed: element 0 exited with 3$/m);
    // The tail of the failing element's log, its stdout on stdout and its stderr on stderr.
    expect(result.stdout).toMatch(/── prep \(attempt 1\): the last lines of its log ──\nreading the input\n/);
    expect(result.stderr).toContain('input.csv: no such file\n');
    const pipeline = await printedPipeline(result.stdout);
    const prep = pipeline.jobs[0]!;
    expect(result.stdout).toMatch(
      new RegExp(`^\\d\\d:\\d\\d:\\d\\d {2}train +skipped: upstream job "prep" \\(${prep.id}\\) ended failed`, 'm'),
    );
    expect(result.stdout).toMatch(/^\d\d:\d\d:\d\d {2}report +skipped: upstream job "train" .* ended skipped/m);
    expect(result.stdout).toMatch(/^\d\d:\d\d:\d\d {2}cleanup +succeeded$/m);
    expect(pipeline.jobs.map((j) => j.status)).toEqual(['failed', 'skipped', 'skipped', 'succeeded']);
    expect(result.stderr).toMatch(/pipeline \S+: 1 failed, 2 skipped, 1 succeeded/);

    // borg pipelines show, by the pipeline's id or by one of its jobs' id prefix: statuses and skip reasons.
    const [byId, byJob] = await Promise.all([
      borg(['pipelines', 'show', pipeline.id], { env: env() }),
      borg(['pipelines', 'show', pipeline.jobs[1]!.id.slice(0, 7)], { env: env() }),
    ]);
    expect(byId.code, byId.stderr).toBe(0);
    expect(byJob.stdout).toBe(byId.stdout);
    expect(byId.stdout).toMatch(/^prep +\S+ +failed +- +element 0 exited with 3$/m);
    expect(byId.stdout).toMatch(/^train +\S+ +skipped +prep +upstream job "prep" .* ended failed; this job needed/m);
    expect(byId.stdout).toMatch(/^cleanup +\S+ +succeeded +prep if failed\s*$/m);
  });

  it('runs the README’s pipeline, as written, with the command it gives', async () => {
    const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
    const start = readme.indexOf('### Pipelines');
    expect(start).toBeGreaterThan(0);
    const section = readme.slice(start, readme.indexOf('\n### ', start + 3));
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)![1]!;
    const command = /```sh\nnpx borg (run pipeline\.yaml .*)\n```/.exec(section)![1]!;
    await writeFile(join(dir(), 'pipeline.yaml'), yaml);
    const result = await borg(command.split(' '), { env: env(), cwd: dir() });
    expect(result.code, result.stderr).toBe(0);
    const pipeline = await printedPipeline(result.stdout);
    expect(pipeline.jobs.map((j) => [j.name, j.status])).toEqual([
      ['preprocess', 'succeeded'],
      ['train', 'succeeded'],
      ['evaluate', 'succeeded'],
      ['notify', 'skipped'],
    ]);
    const evaluate = await mothership().admin.getJob(pipeline.jobs[2]!.id);
    const log = await mothership().admin.getTaskLogs(evaluate.tasks[0]!.id);
    expect(log.items.map((l) => l.message)).toEqual(['trained on 1000 rows']);
  });

  it('-o json --follow streams NDJSON: submitted, each change, finished', async () => {
    const text =
      'jobs:\n  - {name: one, command: "echo one"}\n  - {name: two, command: "echo bad >&2; exit 4", depends_on: [{name: one}]}\n';
    const result = await borg(['run', await file('json.yaml', text), '-f', '-o', 'json', '--tail', '5'], {
      env: env(),
    });
    expect(result.code, result.stderr).toBe(1);
    const lines = result.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ type: 'submitted', pipeline: { jobs: [{ name: 'one' }, { name: 'two' }] } });
    expect(lines.at(-1)).toMatchObject({
      type: 'finished',
      pipeline: {
        jobs: [
          { name: 'one', status: 'succeeded' },
          { name: 'two', status: 'failed' },
        ],
      },
    });
    const changes = lines
      .filter((l) => l.type === 'job')
      .map((l) => l.job as { id: string; name: string; status: string });
    expect(changes.map((j) => `${j.name} ${j.status}`)).toEqual(
      expect.arrayContaining(['one succeeded', 'two failed']),
    );
    // Between its release and its failure, two is seen queued or running (or both): a solder that
    // starts at once may take it before the follower's next look, and a state nobody saw is not printed.
    expect(changes.filter((j) => j.name === 'two' && ['queued', 'running'].includes(j.status))).not.toEqual([]);
    // The failing job's log tail, as JSON lines too.
    expect(lines.filter((l) => l.type === 'log')).toEqual([
      expect.objectContaining({ job_id: changes.find((j) => j.name === 'two')!.id, stream: 'stderr', message: 'bad' }),
    ]);
  });

  it('refuses a bad file with exit 2, naming the problem, and sends nothing', async () => {
    const jobsBefore = (await mothership().admin.listJobs({ limit: 500 })).items.length;
    const files = {
      cycle:
        'jobs:\n  - {name: a, command: x, depends_on: [{name: b}]}\n  - {name: b, command: x, depends_on: [{name: a}]}\n',
      unknown: 'jobs:\n  - {name: a, command: x}\n  - {name: b, command: x, depends_on: [{name: c}]}\n',
      syntax: 'jobs:\n  - name: a\n    command: "unterminated\n',
    };
    const [cycle, unknown, syntax, missing] = await Promise.all([
      borg(['run', await file('cycle.yaml', files.cycle), '--follow'], { env: env() }),
      borg(['run', await file('unknown.yaml', files.unknown)], { env: env() }),
      borg(['run', '-'], { env: env(), input: files.syntax }),
      borg(['run', join(dir(), 'no-such.yaml')], { env: env() }),
    ]);
    for (const result of [cycle, unknown, syntax, missing]) expect(result.code, result.stderr).toBe(2);
    expect(expectOneLineError(cycle.stderr)).toMatch(
      /cycle\.yaml:3:\d+: job "b": depends_on\[0\]\.name: a cycle of dependencies: "a", which waits for "b", which waits for "a": nothing was submitted/,
    );
    expect(expectOneLineError(unknown.stderr)).toMatch(/unknown\.yaml:3:\d+: job "b": .*no job named "c"/);
    expect(expectOneLineError(syntax.stderr)).toMatch(/^borg: stdin:\d+:\d+: .*: nothing was submitted/);
    expect(expectOneLineError(missing.stderr)).toMatch(/cannot read .*no-such\.yaml \(ENOENT\)/);
    expect((await mothership().admin.listJobs({ limit: 500 })).items.length).toBe(jobsBefore);
  });

  it('jobs cancel --cascade cancels a job and every job waiting on it', async () => {
    const text = [
      'jobs:',
      '  - {name: root, command: x, labels: {pool: nowhere}, unsatisfiable: queue}',
      '  - {name: mid, command: x, depends_on: [{name: root}]}',
      '  - {name: leaf, command: x, depends_on: [{name: mid, condition: finished}]}',
    ].join('\n');
    const submitted = await borg(['run', await file('stuck.yaml', text), '-o', 'json'], { env: env() });
    expect(submitted.code, submitted.stderr).toBe(0);
    const pipeline = JSON.parse(submitted.stdout) as Pipeline;
    expect(pipeline.jobs.map((j) => j.status)).toEqual(['queued', 'blocked', 'blocked']);

    const cancel = await borg(['jobs', 'cancel', '--cascade', pipeline.jobs[0]!.id.slice(0, 8)], { env: env() });
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout).toBe(`job ${pipeline.jobs[0]!.id}: cancelled\n`);
    const after = await mothership().admin.getPipeline(pipeline.id);
    expect(after.jobs.map((j) => j.status)).toEqual(['cancelled', 'cancelled', 'cancelled']);
  });

  it('Ctrl-C during --follow with --cancel-on-interrupt cancels the pipeline’s jobs and exits 130', async () => {
    const text = [
      'jobs:',
      '  - {name: first, command: x, labels: {pool: nowhere}, unsatisfiable: queue}',
      '  - {name: second, command: x, depends_on: [{name: first}]}',
    ].join('\n');
    const follow = spawnBorg(['run', await file('interrupt.yaml', text), '-f', '--cancel-on-interrupt'], {
      env: env(),
    });
    await expect.poll(() => /^second +\S+ +blocked/m.test(follow.stdout()), { timeout: 20_000 }).toBe(true);
    follow.child.kill('SIGINT');
    const result = await follow.done;
    expect(result.code).toBe(130);
    const pipeline = await printedPipeline(result.stdout);
    expect(result.stderr).toContain(`cancelling pipeline ${pipeline.id}`);
    expect(result.stderr).toContain(`cancelled job ${pipeline.jobs[0]!.id.slice(0, 8)} and every job waiting on it`);
    expect(pipeline.jobs.map((j) => j.status)).toEqual(['cancelled', 'cancelled']);
  });
});
