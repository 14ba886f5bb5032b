import { route } from '../route-definition.ts';
import { Job } from '../schemas/jobs.ts';
import {
  CreateScheduleRequest,
  ListSchedulesQuery,
  Schedule,
  SchedulePage,
  UpdateScheduleRequest,
} from '../schemas/schedules.ts';
import { API_PREFIX, idParams } from './api-prefix.ts';

const ScheduleParams = idParams('schedule');

/**
 * Schedules: a job spec submitted on a cron. Operators create them and change their own; the
 * ROLE_TO_CHANGE_ANY_SCHEDULE (admin) changes any.
 */
export const scheduleRoutes = {
  createSchedule: route({
    method: 'POST',
    path: `${API_PREFIX}/schedules`,
    access: 'operator',
    tag: 'schedules',
    summary: 'Create a schedule: a job spec submitted at each slot of a cron, in a time zone',
    body: CreateScheduleRequest,
    responses: { 201: Schedule },
    errors: [422],
    audit: 'schedule.create',
  }),
  listSchedules: route({
    method: 'GET',
    path: `${API_PREFIX}/schedules`,
    access: 'viewer',
    tag: 'schedules',
    summary: 'List schedules by name, each with its next fire and latest fires',
    query: ListSchedulesQuery,
    responses: { 200: SchedulePage },
  }),
  getSchedule: route({
    method: 'GET',
    path: `${API_PREFIX}/schedules/:id`,
    access: 'viewer',
    tag: 'schedules',
    summary: 'One schedule, with its next fire and latest fires (their jobs, or why they were skipped)',
    params: ScheduleParams,
    responses: { 200: Schedule },
  }),
  updateSchedule: route({
    method: 'PATCH',
    path: `${API_PREFIX}/schedules/:id`,
    access: 'operator',
    tag: 'schedules',
    summary: 'Change a schedule (any field); `paused` pauses and resumes it',
    params: ScheduleParams,
    body: UpdateScheduleRequest,
    responses: { 200: Schedule },
    audit: 'schedule.update',
  }),
  deleteSchedule: route({
    method: 'DELETE',
    path: `${API_PREFIX}/schedules/:id`,
    access: 'operator',
    tag: 'schedules',
    summary: 'Delete a schedule; the jobs it created stay',
    params: ScheduleParams,
    responses: { 200: Schedule },
    audit: 'schedule.delete',
  }),
  triggerSchedule: route({
    method: 'POST',
    path: `${API_PREFIX}/schedules/:id/trigger`,
    access: 'operator',
    tag: 'schedules',
    summary: 'Fire a schedule once now, whatever its cron, pause or overlap say: submits its job and returns it',
    params: ScheduleParams,
    responses: { 201: Job },
    errors: [422],
    audit: 'schedule.trigger',
  }),
} as const;
