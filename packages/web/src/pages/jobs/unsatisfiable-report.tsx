import { BorgApiError, type RunnerVerdict, UnsatisfiableDetails } from '@borg/protocol';

import { RunnerVerdicts } from './placement-details.tsx';

/** A submit refused because no runner could ever take the job: the message and each runner's reasons. */
export interface Unsatisfiable {
  message: string;
  runners: RunnerVerdict[];
}

/** The 422 UNSATISFIABLE in an error, read defensively; anything else: null. */
export function unsatisfiableOf(error: unknown): Unsatisfiable | null {
  if (!(error instanceof BorgApiError) || error.code !== 'UNSATISFIABLE') return null;
  const details = UnsatisfiableDetails.safeParse(error.details);
  return { message: error.message, runners: details.success ? details.data.runners : [] };
}

/** Why the job was refused, runner by runner, and the choice to queue it all the same. */
export function UnsatisfiableReport({
  refusal,
  queueAnyway,
  setQueueAnyway,
}: {
  refusal: Unsatisfiable;
  queueAnyway: boolean;
  setQueueAnyway: (queue: boolean) => void;
}) {
  return (
    <div
      role="alert"
      data-testid="unsatisfiable-report"
      className="space-y-2 rounded border border-orange-200 bg-orange-50 px-3 py-2 text-sm text-orange-950"
    >
      <p className="font-medium">{refusal.message}</p>
      <RunnerVerdicts runners={refusal.runners} notListed={0} />
      <label className="flex items-center gap-2">
        <input type="checkbox" checked={queueAnyway} onChange={(e) => setQueueAnyway(e.target.checked)} />
        Queue it anyway (it waits until a runner that can take it registers)
      </label>
    </div>
  );
}
