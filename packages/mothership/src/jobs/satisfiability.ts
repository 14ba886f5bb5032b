import type { RunnerVerdict, UnsatisfiablePolicy, ValidCreateJobRequest } from '@borg/protocol';

import type { Queryable } from '../db/database.ts';
import { BorgError } from '../errors.ts';
import { nearestFirst, type PlacementDemand, placementReasons, verdictOf } from '../runners/placement-rules.ts';
import { placementStore } from '../runners/placement-store.ts';
import { parsedConstraints } from './job-insert.ts';

/** How many runners a 422 UNSATISFIABLE names. */
export const NEAREST_RUNNERS = 5;

/** What a job asks of the runner that takes it: its labels, constraints, resources and type. */
export function placementDemandOf(
  job: Pick<ValidCreateJobRequest, 'type' | 'labels' | 'constraints' | 'resources'>,
): PlacementDemand {
  return {
    labels: job.labels ?? {},
    constraints: parsedConstraints(job.constraints) ?? [],
    resources: job.resources ?? {},
    type: job.type === 'docker' ? 'container' : job.type,
  };
}

/**
 * Whether a job asking this may be stored, and marked: true when runners are known and none of
 * them could ever take it (placement-rules' `ever`: type, labels, constraints, total capacity), and the
 * job asked to be queued anyway (`queue`, or no policy at all: clients written before placement
 * keep their behaviour). With `reject` it throws 422 UNSATISFIABLE naming the nearest runners and
 * what each lacks. With no runner known (a fresh install) every job is accepted unmarked.
 *
 * A job that asks for no label, constraint or resource, and is not a container job, fits any
 * runner: it costs no query. (Shell and binary jobs are left out only by a solder's --job-types,
 * an operator's choice; container jobs by every solder without a working container CLI, the
 * case a new user meets.) For the others one statement answers; only a job that fits none and asked to be refused reads the
 * runners to say why.
 */
export async function judgeSatisfiability(
  db: Queryable,
  demand: PlacementDemand,
  policy: UnsatisfiablePolicy | undefined,
): Promise<{ unsatisfiable: boolean }> {
  if (asksNothing(demand)) return { unsatisfiable: false };
  const { known, fits } = await placementStore.couldEverTake(db, demand);
  if (!known || fits) return { unsatisfiable: false };
  if (policy !== 'reject') return { unsatisfiable: true };

  const verdicts = (
    await placementStore.runners(db, demand.constraints, {
      knownOnly: true,
      withGpus: (demand.resources.gpus ?? 0) > 0,
    })
  ).map(({ runner, unmet }) => verdictOf(runner, placementReasons(runner, demand, unmet, 'ever')));
  // The statement and the rules read the same columns the same way; should they ever disagree,
  // a runner the rules find fit settles it in the job's favour.
  if (verdicts.length === 0 || verdicts.some((verdict) => verdict.eligible)) return { unsatisfiable: false };

  const nearest = verdicts.sort(nearestFirst).slice(0, NEAREST_RUNNERS);
  throw new BorgError('UNSATISFIABLE', unsatisfiableMessage(verdicts.length, nearest[0]!), { runners: nearest });
}

function asksNothing(demand: PlacementDemand): boolean {
  const { cpu, memory_mb, gpus } = demand.resources;
  return (
    demand.type !== 'container' &&
    Object.keys(demand.labels).length === 0 &&
    demand.constraints.length === 0 &&
    !cpu &&
    !memory_mb &&
    !gpus
  );
}

function unsatisfiableMessage(count: number, nearest: RunnerVerdict): string {
  const known =
    count === 1
      ? 'the one runner this mothership knows lacks'
      : `none of the ${count} runners this mothership knows has`;
  return (
    `no runner could ever take this job: ${known} what it asks; ` +
    `nearest: ${nearest.runner_name} (${nearest.reasons.join('; ')}). ` +
    'Change its type, labels, constraints or resources, or submit it with "unsatisfiable": "queue" to wait for such a runner'
  );
}
