import type { RunnerVerdict, TaskPlacement } from '@borg/protocol';

import { duration, type Output } from './output.ts';

/** How people see placement: `borg explain`, and the runners a refused `borg submit` names. */

/** Each runner with its reasons (or "eligible"), one line each, nearest first as the mothership sent them. */
export function verdictLines(verdicts: readonly RunnerVerdict[]): string[] {
  const width = Math.max(0, ...verdicts.map((v) => v.runner_name.length));
  return verdicts.map((v) => `${v.runner_name.padEnd(width)}  ${v.eligible ? 'eligible' : v.reasons.join('; ')}`);
}

export function printPlacement(out: Output, placement: TaskPlacement): void {
  const waiting = placement.position !== null;
  out.fields([
    ['task', placement.task_id],
    ['status', placement.status],
    ...(waiting
      ? ([
          ['position', String(placement.position)],
          [
            'estimated wait',
            placement.estimated_wait_seconds === null
              ? 'unknown (no task like it started in the last hour)'
              : duration(placement.estimated_wait_seconds * 1000),
          ],
          ['job', placement.job_reasons.join('; ') || '-'],
        ] as Array<[string, string]>)
      : []),
    ['summary', placement.summary ?? '-'],
  ]);
  if (!waiting) return;
  if (placement.runners.length === 0) {
    out.print('runners: none registered');
    return;
  }
  out.print('runners:');
  for (const line of verdictLines(placement.runners)) out.print(`  ${out.cell(line)}`);
  if (placement.runners_not_listed > 0) out.print(`  … and ${placement.runners_not_listed} more runners`);
}
