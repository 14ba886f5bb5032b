import {
  formatConstraint,
  type JobType,
  type ParsedConstraint,
  type ResourceRequest,
  type RunnerVerdict,
} from '@borg/protocol';

/** One GPU of a runner as placement judges it. */
export interface PlacementGpu {
  index: number;
  /** Total memory (null: the driver does not say). */
  memory_mb: number | null;
  /** Free memory now: the last sample, else what was detected, else the total (as the claim reads it). */
  free_mb: number | null;
  /** The live task holding it, or null. */
  holder: string | null;
}

/** What placement needs to know of a runner (see placement-store.ts). */
export interface PlacementRunner {
  id: string;
  name: string;
  online: boolean;
  draining: boolean;
  approved: boolean;
  labels: Record<string, string>;
  attributes: Record<string, string>;
  /** The job types it said it takes at registration; null: every type (or not said). */
  jobTypes: readonly JobType[] | null;
  /** What it offers to tasks that ask for resources; null: it reported none. */
  capacity: { cpu: number; memory_mb: number } | null;
  /** What its live tasks hold. */
  usage: { cpu: number; memory_mb: number };
  gpus: PlacementGpu[];
  slots: { max: number; used: number };
}

/** What a task asks of the runner that takes it. */
export interface PlacementDemand {
  labels: Record<string, string>;
  constraints: readonly ParsedConstraint[];
  resources: ResourceRequest;
  /** The job's type; absent: not weighed. */
  type?: JobType;
}

/** Whether the runner takes jobs of this type, as far as it said (a runner that said nothing takes every type). */
export function takesType(runner: Pick<PlacementRunner, 'jobTypes'>, type: JobType | undefined): boolean {
  return type === undefined || runner.jobTypes === null || runner.jobTypes.includes(type);
}

/**
 * `now`: could it take the task at its next claim (online, approved, not draining, a free slot,
 * enough free CPU, memory and GPUs)? `ever`: could it take it at all, given time (its labels,
 * attributes and total capacity; state, approval, slots and what others hold are ignored).
 */
export type PlacementMode = 'now' | 'ever';

/** A task id as the reasons show it. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

/**
 * Each reason the runner cannot take the task, in words (empty: it can). `unmet` holds the
 * positions of the demand's constraints the runner's attributes do not meet, as the database
 * (borg_constraints_unmet) found them: the claim's own evaluation, not a copy of it.
 *
 * The checks mirror the claim (migration 0011): the job's type must be one the runner said it
 * takes (its claims name the same types: no container runtime, no container jobs); labels are matched against the runner's labels
 * exactly; each requested amount, absent counting as 0, must fit what is free (`now`) or what the
 * runner offers in all (`ever`); a runner that reports no capacity offers 0 of everything; a GPU
 * counts when no live task holds it (`now`) and it has `gpu_memory_mb` free (`now`) or in all
 * (`ever`).
 */
export function placementReasons(
  runner: PlacementRunner,
  demand: PlacementDemand,
  unmet: readonly number[],
  mode: PlacementMode,
): string[] {
  const now = mode === 'now';
  const reasons: string[] = [];
  if (now && !runner.online) reasons.push('offline');
  if (now && runner.draining) reasons.push('draining');
  if (now && !runner.approved) reasons.push('awaiting approval');
  if (!takesType(runner, demand.type)) {
    reasons.push(`takes no ${demand.type} jobs (only ${runner.jobTypes!.join(', ')})`);
  }
  for (const [key, wanted] of Object.entries(demand.labels)) {
    const has = runner.labels[key];
    if (has !== wanted) reasons.push(`label ${key}: wants ${wanted}, has ${has ?? 'none'}`);
  }
  for (const position of unmet) {
    const constraint = demand.constraints[position];
    if (!constraint) continue;
    reasons.push(`constraint ${formatConstraint(constraint)}: has ${runner.attributes[constraint.key] ?? 'none'}`);
  }
  reasons.push(...resourceReasons(runner, demand.resources, now));
  if (now && runner.slots.used >= runner.slots.max) {
    reasons.push(`slots full (${runner.slots.used} of ${runner.slots.max})`);
  }
  return reasons;
}

/** The runner's verdict: eligible when nothing stands in the way. */
export function verdictOf(runner: PlacementRunner, reasons: string[]): RunnerVerdict {
  return { runner_id: runner.id, runner_name: runner.name, eligible: reasons.length === 0, reasons };
}

/** Nearest first: eligible runners, then those with the fewest reasons, then by name. */
export function nearestFirst(a: RunnerVerdict, b: RunnerVerdict): number {
  return (
    Number(b.eligible) - Number(a.eligible) ||
    a.reasons.length - b.reasons.length ||
    compare(a.runner_name, b.runner_name) ||
    compare(a.runner_id, b.runner_id)
  );
}

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function resourceReasons(runner: PlacementRunner, wants: ResourceRequest, now: boolean): string[] {
  const reasons: string[] = [];
  const capacity = runner.capacity ?? { cpu: 0, memory_mb: 0 };
  const left = (total: number, used: number) => (now ? total - used : total);
  const noun = now ? 'free' : 'in all';
  const cpu = left(capacity.cpu, runner.usage.cpu);
  if ((wants.cpu ?? 0) > cpu) reasons.push(`cpu: needs ${amount(wants.cpu!)}, ${amount(cpu)} ${noun}`);
  const memory = left(capacity.memory_mb, runner.usage.memory_mb);
  if ((wants.memory_mb ?? 0) > memory) {
    reasons.push(`memory: needs ${amount(wants.memory_mb!)} MB, ${amount(memory)} ${noun}`);
  }
  const reason = gpuReason(runner.gpus, wants, now);
  if (reason) reasons.push(reason);
  return reasons;
}

/** The one GPU reason: too few GPUs at all (naming who holds the busy ones), else too few with the memory. */
function gpuReason(gpus: readonly PlacementGpu[], wants: ResourceRequest, now: boolean): string | null {
  const count = wants.gpus ?? 0;
  if (count === 0) return null;
  const usable = now ? gpus.filter((gpu) => gpu.holder === null) : gpus;
  if (usable.length < count) {
    const held = now ? heldBy(gpus) : '';
    return `gpus: needs ${count}, ${usable.length} ${now ? 'free' : 'in all'}${held}`;
  }
  const memory = wants.gpu_memory_mb ?? 0;
  const fitting = usable.filter((gpu) => ((now ? gpu.free_mb : (gpu.memory_mb ?? gpu.free_mb)) ?? 0) >= memory);
  if (fitting.length >= count) return null;
  const where = count === 1 ? 'on 1 GPU' : `on each of ${count} GPUs`;
  const have = `${fitting.length} ${fitting.length === 1 ? 'has' : 'have'} it`;
  return `gpu memory: needs ${memory} MB ${now ? 'free ' : ''}${where}, ${have}`;
}

/** " (task 3f2a91c0 holds 0, 1; task 77b0e412 holds 2)", or "" when no task holds any. */
function heldBy(gpus: readonly PlacementGpu[]): string {
  const byTask = new Map<string, number[]>();
  for (const gpu of gpus) {
    if (gpu.holder === null) continue;
    byTask.set(gpu.holder, [...(byTask.get(gpu.holder) ?? []), gpu.index]);
  }
  if (byTask.size === 0) return '';
  const parts = [...byTask].map(([task, indexes]) => `task ${shortId(task)} holds ${indexes.join(', ')}`);
  return ` (${parts.join('; ')})`;
}

/** 1.5, 2, 0.25: at most three decimals, no trailing zeros. */
function amount(value: number): string {
  return String(Math.round(value * 1000) / 1000);
}
