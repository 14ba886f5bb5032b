import { z } from 'zod';

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

export const ArtifactList = z.object({ items: z.array(Artifact), next_cursor: z.null() });
export type ArtifactList = z.infer<typeof ArtifactList>;
