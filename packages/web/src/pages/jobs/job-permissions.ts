import { type Identity, type Job, type OperationName, ROLE_TO_CHANGE_ANY_JOB, roleAtLeast } from '@borg/protocol';

import { ALLOWED, mayCall, type Permission, refused } from '../../lib/permissions.ts';
import { JOB_ACTIONS, type JobAction } from './bulk-actions.ts';

/** The route of each job action, whose access says which role may take it at all. */
const ROUTE_OF_ACTION: Record<JobAction, OperationName> = {
  cancel: 'cancelJob',
  pause: 'pauseJob',
  resume: 'resumeJob',
  retry: 'retryJob',
  delete: 'deleteJob',
};

/** Whether the token may take this action on this job: its role, then whose job it is. */
export function mayChangeJob(identity: Identity | null, action: JobAction, job: Pick<Job, 'created_by'>): Permission {
  return mayChangeJobThrough(identity, ROUTE_OF_ACTION[action], job);
}

/** Whether the token may call this route on this job (PATCH, element actions): its role, then whose job it is. */
export function mayChangeJobThrough(
  identity: Identity | null,
  operation: OperationName,
  job: Pick<Job, 'created_by'>,
): Permission {
  const byRole = mayCall(identity, operation);
  if (!identity || !byRole.allowed) return byRole;
  if (identity.role && roleAtLeast(identity.role, ROLE_TO_CHANGE_ANY_JOB)) return ALLOWED;
  if (job.created_by?.token_id === identity.token_id) return ALLOWED;
  const owner = job.created_by ? `“${job.created_by.name}”` : 'another token';
  return refused(`Needs the ${ROLE_TO_CHANGE_ANY_JOB} role: this job was submitted by ${owner}`);
}

/** Whether the token may take any action on this job (a row it may select for bulk actions). */
export function mayChangeJobAtAll(identity: Identity | null, job: Pick<Job, 'created_by'>): Permission {
  const permissions = JOB_ACTIONS.map((action) => mayChangeJob(identity, action, job));
  return permissions.find((p) => p.allowed) ?? permissions[0]!;
}
