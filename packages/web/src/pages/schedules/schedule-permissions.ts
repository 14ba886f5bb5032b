import { type Identity, ROLE_TO_CHANGE_ANY_SCHEDULE, roleAtLeast, type Schedule } from '@borg/protocol';

import { ALLOWED, mayCall, type Permission, refused } from '../../lib/permissions.ts';

/** What can be done to a schedule, each with its route (whose access says which role may at all). */
export type ScheduleAction = 'updateSchedule' | 'triggerSchedule' | 'deleteSchedule';

/** Whether the token may take this action on this schedule: its role, then whose schedule it is. */
export function mayChangeSchedule(
  identity: Identity | null,
  action: ScheduleAction,
  schedule: Pick<Schedule, 'created_by'>,
): Permission {
  const byRole = mayCall(identity, action);
  if (!identity || !byRole.allowed) return byRole;
  if (identity.role && roleAtLeast(identity.role, ROLE_TO_CHANGE_ANY_SCHEDULE)) return ALLOWED;
  if (schedule.created_by?.token_id === identity.token_id) return ALLOWED;
  const owner = schedule.created_by ? `“${schedule.created_by.name}”` : 'another token';
  return refused(`Needs the ${ROLE_TO_CHANGE_ANY_SCHEDULE} role: this schedule was created by ${owner}`);
}
