import { z } from 'zod';

import { isSafeFileName } from '../safe-path.ts';
import { Id, RelativePath, Timestamp } from './common.ts';

export const FileInfo = z.object({
  id: Id,
  filename: z.string(),
  size: z.number().int(),
  sha256: z.string(),
  content_type: z.string(),
  created_at: Timestamp,
});
export type FileInfo = z.infer<typeof FileInfo>;

/** A job input as the solder sees it: where to put it, and what to check once it has it. */
export const JobFileWithMeta = z.object({
  file_id: Id,
  path: z.string(),
  filename: z.string(),
  size: z.number().int(),
  sha256: z.string(),
});
export type JobFileWithMeta = z.infer<typeof JobFileWithMeta>;

export const Artifact = z.object({
  id: Id,
  file_id: Id,
  task_id: Id,
  path: z.string(),
  size: z.number().int(),
  sha256: z.string(),
  created_at: Timestamp,
});
export type Artifact = z.infer<typeof Artifact>;

/** The text fields of `POST /api/v1/artifacts/upload`; they must come before the file part. */
export const ArtifactUploadFields = z.strictObject({ task_id: Id, path: RelativePath });

/** What a raw upload may say of its bytes; each one given is checked, and a mismatch keeps nothing. */
const DeclaredBytes = {
  /** The body's length; the `Content-Length` must agree when both are sent. */
  size: z.coerce.number().int().min(0).optional(),
  /** The sha256 of the body, in hex. */
  sha256: z
    .string()
    .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hexadecimal digits')
    .transform((hex) => hex.toLowerCase())
    .optional(),
};

/** The query of `PUT /api/v1/files`: the body is the file's bytes, `application/octet-stream`. */
export const RawFileUploadQuery = z.strictObject({
  filename: z
    .string()
    .min(1)
    .refine(isSafeFileName, 'must be a file name of at most 255 characters: no "/", no "..", no control characters'),
  ...DeclaredBytes,
});
export type RawFileUploadQuery = z.infer<typeof RawFileUploadQuery>;

/** The query of `PUT /api/v1/artifacts/upload`: the multipart route's fields, and what the bytes should be. */
export const RawArtifactUploadQuery = z.strictObject({ ...ArtifactUploadFields.shape, ...DeclaredBytes });
export type RawArtifactUploadQuery = z.infer<typeof RawArtifactUploadQuery>;

export const ArtifactList = z.object({ items: z.array(Artifact), next_cursor: z.null() });
export type ArtifactList = z.infer<typeof ArtifactList>;
