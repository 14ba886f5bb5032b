import { z } from 'zod';

export const API_PREFIX = '/api/v1';

/** `{id}` path parameters: a UUID, with a message naming what it should identify. */
export const idParams = (what: string) => z.strictObject({ id: z.guid(`id must be a ${what} id`) });
