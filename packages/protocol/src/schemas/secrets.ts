import { z } from 'zod';

import { ENV_NAME_PATTERN, Timestamp } from './common.ts';

/** Secret names can be typed on a command line and in a URL path as they are. */
export const SECRET_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
export const SecretName = z
  .string()
  .regex(
    SECRET_NAME_PATTERN,
    'secret names are 1-128 letters, digits, "_", "." or "-", starting with a letter or digit',
  );
export const MAX_SECRET_BYTES = 64 * 1024;
export const MAX_JOB_SECRETS = 64;

export const SecretParams = z.strictObject({ name: SecretName });

export const PutSecretRequest = z.strictObject({
  value: z
    .string()
    .min(1, 'a secret needs a value')
    .refine((value) => Buffer.byteLength(value) <= MAX_SECRET_BYTES, `a secret is at most ${MAX_SECRET_BYTES} bytes`),
});
export type PutSecretRequest = z.input<typeof PutSecretRequest>;

/** What anyone but the runner holding a task may know of a secret: never its value. */
export const SecretInfo = z.object({ name: z.string(), created_at: Timestamp, updated_at: Timestamp });
export type SecretInfo = z.infer<typeof SecretInfo>;

export const SecretList = z.object({ items: z.array(SecretInfo), next_cursor: z.null() });
export type SecretList = z.infer<typeof SecretList>;

/** A job's secrets: the environment variable each one is given to the task as, by secret name. */
export const JobSecrets = z
  .record(z.string().regex(ENV_NAME_PATTERN, 'environment variable names are letters, digits and "_"'), SecretName)
  .refine((secrets) => Object.keys(secrets).length <= MAX_JOB_SECRETS, `at most ${MAX_JOB_SECRETS} secrets`);
export type JobSecrets = z.infer<typeof JobSecrets>;
