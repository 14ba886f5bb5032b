import { type BorgClient, type ElementsChanged, MAX_ARRAY_SIZE } from '@borg/protocol';

import { usageError } from './cli-error.ts';
import type { Output } from './output.ts';

/** `borg jobs retry|cancel JOB --element …` (and `--failed` for retry): act on elements, not on the whole job. */
export interface ElementFlags {
  element?: string[];
  failed?: boolean;
}

/**
 * The indexes of `--element` values: each a number, a range `10-19`, or a comma-separated list of
 * those; the flag repeats. Undefined when none was given.
 */
export function elementIndexes(values: string[] | undefined): number[] | undefined {
  if (!values || values.length === 0) return undefined;
  const indexes = new Set<number>();
  for (const part of values.flatMap((v) => v.split(','))) {
    const match = /^\s*(\d{1,5})(?:-(\d{1,5}))?\s*$/.exec(part);
    const low = Number(match?.[1]);
    const high = match?.[2] === undefined ? low : Number(match[2]);
    if (!match || high < low || high >= MAX_ARRAY_SIZE) {
      throw usageError(
        `--element "${part}" is not an element index or range`,
        `give indexes from 0, e.g. --element 3 --element 10-19`,
      );
    }
    for (let i = low; i <= high; i++) indexes.add(i);
  }
  return [...indexes].sort((a, b) => a - b);
}

/** Whether the flags ask for elements rather than the whole job. */
export function actsOnElements(flags: ElementFlags): boolean {
  return flags.element !== undefined || flags.failed === true;
}

/**
 * Retries or cancels the chosen elements of one job in one call: `--element` indexes, or for a
 * retry `--failed` (every element whose latest attempt failed, timed out or was lost).
 */
export async function actOnElements(
  client: BorgClient,
  action: 'retry' | 'cancel',
  jobId: string,
  flags: ElementFlags,
): Promise<ElementsChanged> {
  const indexes = elementIndexes(flags.element);
  if (indexes && flags.failed) throw usageError('give --element or --failed, not both');
  if (action === 'cancel') {
    if (!indexes) throw usageError('borg jobs cancel acts on elements given by --element');
    return client.cancelElements(jobId, { indexes });
  }
  return client.retryElements(jobId, indexes ? { indexes } : { status: ['failed', 'timed_out', 'lost'] });
}

/** `job 0b6f…: retried 3 elements (1, 5, 7); 1 skipped`, or the answer as JSON. */
export function printElementsChanged(out: Output, action: 'retry' | 'cancel', changed: ElementsChanged): void {
  if (out.json) return out.printJson(changed);
  const verb = action === 'retry' ? 'retried' : 'cancelled';
  const shown = changed.indexes.slice(0, 20).join(', ') + (changed.indexes.length > 20 ? ', …' : '');
  const noun = changed.indexes.length === 1 ? 'element' : 'elements';
  const skipped = changed.skipped > 0 ? `; ${changed.skipped} skipped (not in a state to ${action})` : '';
  out.print(
    `job ${changed.job.id}: ${verb} ${changed.indexes.length} ${noun} (${shown})${skipped}; job ${out.status(changed.job.status)}`,
  );
}
