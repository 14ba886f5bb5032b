import type { RunnerVerdict, TaskPlacement } from '@borg/protocol';

import { Link } from '../../components/link.tsx';
import { formatDuration } from '../../lib/format.ts';

/** Eligible runners first, each group in the order the mothership sent it. */
export function verdictsInOrder(runners: readonly RunnerVerdict[]): RunnerVerdict[] {
  return [...runners.filter((r) => r.eligible), ...runners.filter((r) => !r.eligible)];
}

/** The place in line and the estimated wait, in one sentence. */
export function describeWait(placement: TaskPlacement): string {
  const position =
    placement.position === null ? 'Not in line' : `Number ${placement.position} in line for these runners`;
  const wait =
    placement.estimated_wait_seconds === null
      ? 'no estimate of the wait yet'
      : `about ${formatDuration(placement.estimated_wait_seconds)} to wait`;
  return `${position}; ${wait}.`;
}

function Verdict({ verdict }: { verdict: RunnerVerdict }) {
  return (
    <li data-testid="placement-runner" className="py-1">
      <Link to={`/runners/${verdict.runner_id}`}>{verdict.runner_name}</Link>{' '}
      {verdict.eligible ? (
        <span className="rounded bg-green-100 px-1.5 text-xs text-green-800">eligible</span>
      ) : (
        <ul aria-label={`Why not ${verdict.runner_name}`} className="ml-4 list-disc text-slate-700">
          {verdict.reasons.map((reason) => (
            <li key={reason} className="font-mono text-xs">
              {reason}
            </li>
          ))}
        </ul>
      )}
    </li>
  );
}

/** The runners a placement names, eligible first, with a line for those it counted but left out. */
export function RunnerVerdicts({ runners, notListed }: { runners: readonly RunnerVerdict[]; notListed: number }) {
  if (runners.length === 0 && notListed === 0) {
    return <p className="text-slate-600">No runner is registered.</p>;
  }
  return (
    <>
      <ul aria-label="Runners" className="divide-y divide-slate-100">
        {verdictsInOrder(runners).map((v) => (
          <Verdict key={v.runner_id} verdict={v} />
        ))}
      </ul>
      {notListed > 0 && (
        <p className="text-slate-600" data-testid="runners-not-listed">
          {notListed.toLocaleString()} more {notListed === 1 ? 'runner' : 'runners'} not listed
        </p>
      )}
    </>
  );
}

/** Why a pending task waits: its place in line, the estimated wait, job-level reasons, and each runner's verdict. */
export function PlacementDetails({ placement }: { placement: TaskPlacement }) {
  if (placement.status !== 'pending') {
    return <p>This attempt is no longer pending (it is {placement.status.replaceAll('_', ' ')}).</p>;
  }
  return (
    <div className="space-y-2">
      <p data-testid="placement-wait">{describeWait(placement)}</p>
      {placement.job_reasons.length > 0 && (
        <div>
          <h4 className="font-medium">Held by the job</h4>
          <ul aria-label="Held by the job" className="ml-4 list-disc">
            {placement.job_reasons.map((reason) => (
              <li key={reason}>{reason}</li>
            ))}
          </ul>
        </div>
      )}
      <div>
        <h4 className="font-medium">Runners</h4>
        <RunnerVerdicts runners={placement.runners} notListed={placement.runners_not_listed} />
      </div>
    </div>
  );
}
