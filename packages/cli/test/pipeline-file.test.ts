import type { Job } from '@borg/protocol';
import { describe, expect, it } from 'vitest';

import { CliError } from '../src/cli-error.ts';
import { parsePipelineText } from '../src/pipeline-file.ts';
import { pipelineExitCode } from '../src/pipeline-outcome.ts';

/** The one-line error a file gives, or the request it makes. */
function refusal(text: string, label = 'p.yaml'): string {
  try {
    parsePipelineText(text, label);
  } catch (error) {
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).exitCode).toBe(2);
    return (error as CliError).line;
  }
  throw new Error('the file was accepted');
}

describe('a pipeline file, checked before anything is sent (borg run)', () => {
  it('reads YAML and JSON (tabs included) of the POST /pipelines shape as they are written', () => {
    const yaml = [
      'name: nightly',
      'jobs:',
      '  - name: prep',
      '    command: ./prep.sh',
      '    artifacts: ["out/**"]',
      '  - name: train',
      '    command: [python, train.py]',
      '    type: binary',
      '    inputs_from: [{name: prep, artifacts: "out/**", path: from-prep}]',
      '  - name: on-failure',
      '    command: ./notify.sh',
      '    depends_on:',
      '      - {name: train, condition: failed}',
    ].join('\n');
    expect(parsePipelineText(yaml, 'p.yaml').request).toEqual({
      name: 'nightly',
      jobs: [
        { name: 'prep', command: './prep.sh', artifacts: ['out/**'] },
        {
          name: 'train',
          command: ['python', 'train.py'],
          type: 'binary',
          inputs_from: [{ name: 'prep', artifacts: 'out/**', path: 'from-prep' }],
        },
        { name: 'on-failure', command: './notify.sh', depends_on: [{ name: 'train', condition: 'failed' }] },
      ],
    });
    const json =
      '{\n\t"jobs": [\n\t\t{"name": "a", "command": "true"},\n\t\t{"name": "b", "command": "true", "depends_on": [{"name": "a"}]}\n\t]\n}\n';
    expect(parsePipelineText(json, 'p.json').request.jobs).toHaveLength(2);
  });

  it('names the line, the job and the field of a wrong reference between jobs', () => {
    const jobs = (b: string) => `jobs:\n  - name: a\n    command: "true"\n  - name: b\n    command: "true"\n${b}`;
    expect(refusal(jobs('    depends_on: [{name: trian}]\n'))).toMatch(
      /^borg: p\.yaml:6:19: job "b": depends_on\[0\]\.name: no job named "trian" in this pipeline \(its jobs: a, b\): nothing was submitted/,
    );
    expect(refusal(jobs('    inputs_from: [{name: b}]\n'))).toMatch(
      /p\.yaml:6:20: job "b": inputs_from\[0\]\.name: a job cannot depend on itself/,
    );
    const cycle = [
      'jobs:',
      '  - {name: a, command: "true", depends_on: [{name: c}]}',
      '  - {name: b, command: "true", depends_on: [{name: a}]}',
      '  - {name: c, command: "true", depends_on: [{name: b}]}',
    ].join('\n');
    expect(refusal(cycle)).toMatch(
      /p\.yaml:3:\d+: job "b": depends_on\[0\]\.name: a cycle of dependencies: "a", which waits for "c", which waits for "b", which waits for "a"/,
    );
  });

  it('names YAML syntax errors, unknown and missing fields, bad values and shared names', () => {
    expect(refusal('jobs:\n  - name: a\n    command: [echo a\n  - name: b\n')).toMatch(
      /^borg: p\.yaml:\d+:\d+: Flow sequence .*: nothing was submitted/,
    );
    expect(refusal('jobs:\n  - name: a\n    comand: echo a\n')).toMatch(
      /p\.yaml:3:5: job "a": comand: unknown field comand \(and 1 more problem\)/,
    );
    expect(refusal('jobs:\n  - name: a\n    priority: 3\n')).toMatch(
      /p\.yaml:2:5: job "a": command: missing \(it is required\)/,
    );
    expect(refusal('jobs:\n  - name: a\n    command: x\n    depends_on: [{name: b, condition: sometimes}]\n')).toMatch(
      /p\.yaml:4:\d+: job "a": depends_on\[0\]\.condition: .*"succeeded"\|"failed"\|"finished"/,
    );
    expect(refusal('jobs:\n  - {name: a, command: x}\n  - {name: a, command: y}\n')).toMatch(
      /p\.yaml:3:\d+: job "a": name: two jobs of the pipeline share this name/,
    );
    expect(refusal('jobs:\n  - {name: a, command: x}\njobs: []\n')).toMatch(/p\.yaml:3:1: Map keys must be unique/);
    expect(refusal('', 'stdin')).toMatch(/^borg: stdin:1:1: the file: /);
  });
});

describe('the exit code of borg run --follow', () => {
  const job = (id: string, status: Job['status'], depends_on: Job['depends_on'] = []) => ({ id, status, depends_on });
  const dep = (job_id: string, condition: 'succeeded' | 'failed', state: 'met' | 'unmet') => ({
    job_id,
    name: job_id,
    condition,
    state,
  });

  it('is 0 when every job succeeded, and when the only skips are failure branches not needed', () => {
    expect(pipelineExitCode([job('a', 'succeeded'), job('b', 'succeeded')])).toBe(0);
    expect(pipelineExitCode([job('a', 'succeeded'), job('alert', 'skipped', [dep('a', 'failed', 'unmet')])])).toBe(0);
  });

  it('is 1 when a job failed or was cancelled, even when a failure branch then ran', () => {
    const failed = [job('a', 'failed'), job('b', 'skipped', [dep('a', 'succeeded', 'unmet')])];
    expect(pipelineExitCode(failed)).toBe(1);
    expect(pipelineExitCode([job('a', 'failed'), job('alert', 'succeeded', [dep('a', 'failed', 'met')])])).toBe(1);
    expect(pipelineExitCode([job('a', 'cancelled')])).toBe(1);
  });

  it('is 1 when a job was skipped because a job outside the pipeline did not succeed', () => {
    expect(pipelineExitCode([job('b', 'skipped', [dep('outside', 'succeeded', 'unmet')])])).toBe(1);
  });
});
