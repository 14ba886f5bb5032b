import { readFile } from 'node:fs/promises';

import { CreatePipelineRequest } from '@borg/protocol';
import { type Document, isMap, isNode, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import type { z } from 'zod';

import { CliError, ExitCode } from './cli-error.ts';
import { pipelineReferenceProblem } from './pipeline-references.ts';

/** A problem in a pipeline file: where (a path into the document) and what. */
export interface FileProblem {
  path: ReadonlyArray<string | number>;
  message: string;
}

/**
 * Reads a pipeline file (`borg run FILE`, `-` for stdin): YAML, or JSON (which YAML reads too),
 * of the POST /pipelines shape. Everything the mothership would refuse for the file's own sake
 * is found here first and named by its line and field, so a typo sends nothing: YAML syntax,
 * the request schema (unknown fields, wrong types, two jobs of one name), and the references
 * between the jobs (an unknown name, a job depending on itself, a cycle).
 */
export async function readPipelineFile(file: string, stdin: () => Promise<string> = readStdin): Promise<PipelineFile> {
  const label = file === '-' ? 'stdin' : file;
  let text: string;
  try {
    text = file === '-' ? await stdin() : await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new CliError(`cannot read ${label} (${code})`, ExitCode.USAGE);
  }
  return parsePipelineText(text, label);
}

export interface PipelineFile {
  request: CreatePipelineRequest;
}

/** The checks of readPipelineFile on text already read; `label` names it in messages. */
export function parsePipelineText(text: string, label: string): PipelineFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const syntax = doc.errors[0];
  if (syntax) {
    const at = lines.linePos(syntax.pos[0]);
    throw fileError(`${label}:${at.line}:${at.col}: ${firstLine(syntax.message)}`, doc.errors.length - 1);
  }
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  const parsed = CreatePipelineRequest.safeParse(value);
  if (!parsed.success) {
    const { issues } = parsed.error;
    // A misspelt field explains the "missing" one it was meant to be: name it first.
    const first = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0]!;
    throw fileError(describe(schemaProblem(first, doc), doc, lines, label, value), issues.length - 1);
  }
  const request = value as CreatePipelineRequest;
  const reference = pipelineReferenceProblem(request.jobs);
  if (reference) throw fileError(describe(reference, doc, lines, label, value), 0);
  return { request };
}

/** A schema issue as a problem at a place in the file: an unknown field at its key, a missing one said so. */
function schemaProblem(issue: z.core.$ZodIssue, doc: Document): FileProblem {
  const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    const plural = issue.keys.length > 1 ? 's' : '';
    return { path: [...path, issue.keys[0]!], message: `unknown field${plural} ${issue.keys.join(', ')}` };
  }
  const missing = path.length > 0 && !doc.hasIn(path);
  return { path, message: missing ? 'missing (it is required)' : issue.message };
}

function fileError(message: string, more: number): CliError {
  return new CliError(
    more > 0 ? `${message} (and ${more} more problem${more === 1 ? '' : 's'})` : message,
    ExitCode.USAGE,
    'nothing was submitted; see docs/cli.md (borg run) for the file format',
  );
}

/** "pipeline.yaml:12:9: job "train": depends_on[0].name: no job named …". */
function describe(problem: FileProblem, doc: Document, lines: LineCounter, label: string, value: unknown): string {
  const at = lines.linePos(nearestNode(doc, problem.path)?.range?.[0] ?? 0);
  const [top, index, ...rest] = problem.path;
  const jobName = top === 'jobs' && typeof index === 'number' ? jobNameAt(value, index) : undefined;
  const where =
    jobName !== undefined
      ? `job "${jobName}"${rest.length > 0 ? `: ${fieldPath(rest)}` : ''}`
      : fieldPath(problem.path) || 'the file';
  return `${label}:${at.line}:${at.col}: ${where}: ${problem.message}`;
}

/**
 * Where `path` is written: a field's key, a list's item, or, when it is not there (a missing
 * field), the nearest thing above it that is (its object).
 */
function nearestNode(doc: Document, path: ReadonlyArray<string | number>): Node | undefined {
  for (let depth = path.length; depth > 0; depth--) {
    const parent = depth === 1 ? doc.contents : doc.getIn(path.slice(0, depth - 1), true);
    const last = path[depth - 1];
    if (isMap(parent)) {
      const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === last);
      if (pair && isScalar(pair.key)) return pair.key;
    } else if (isSeq(parent) && typeof last === 'number') {
      const item = parent.items[last];
      if (isNode(item)) return item;
    }
  }
  return isNode(doc.contents) ? doc.contents : undefined;
}

function jobNameAt(value: unknown, index: number): string | undefined {
  const jobs = (value as { jobs?: unknown } | null)?.jobs;
  const name = Array.isArray(jobs) ? (jobs[index] as { name?: unknown } | undefined)?.name : undefined;
  return typeof name === 'string' ? name : Array.isArray(jobs) ? `#${index + 1}` : undefined;
}

/** ['depends_on', 0, 'name'] → "depends_on[0].name". */
export function fieldPath(path: ReadonlyArray<string | number | symbol>): string {
  return path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i > 0 ? '.' : ''}${String(part)}`))
    .join('');
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.trim();
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
