import { principalOf } from '../auth-hook.ts';
import type { Handlers } from '../route-table.ts';
import type { Services } from '../services.ts';

export function scheduleHandlers({
  schedules,
}: Services): Handlers<
  'createSchedule' | 'listSchedules' | 'getSchedule' | 'updateSchedule' | 'deleteSchedule' | 'triggerSchedule'
> {
  return {
    createSchedule: async (request) => schedules.create(request.body, principalOf(request)),
    listSchedules: async (request) => schedules.list(request.query),
    getSchedule: async (request) => schedules.get(request.params.id),
    updateSchedule: async (request) => schedules.update(request.params.id, request.body, principalOf(request)),
    deleteSchedule: async (request) => schedules.remove(request.params.id, principalOf(request)),
    triggerSchedule: async (request) => schedules.trigger(request.params.id, principalOf(request)),
  };
}
