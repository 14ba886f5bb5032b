import { Artifact, ArtifactUploadFields, ErrorBody, FileInfo } from '@borg/protocol';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

import { BorgError } from '../../errors.ts';
import { principalOf, runnerIdOf } from '../auth-hook.ts';
import type { RouteOptions } from '../services.ts';

const FileParams = z.strictObject({ id: z.guid('id must be a file id') });
const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody };

/** `filename*` carries the real name (RFC 5987); `filename` an ASCII stand-in for old clients. */
export function attachmentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

export const fileRoutes: FastifyPluginAsyncZod<RouteOptions> = async (app, { services }) => {
  const { files, artifacts } = services;

  app.post(
    '/files',
    {
      schema: {
        tags: ['files'],
        summary: 'Upload a file (multipart field `file`), streamed and hashed',
        consumes: ['multipart/form-data'],
        response: { 201: FileInfo, ...errors },
      },
    },
    async (request, reply) => {
      const part = await request.file();
      if (!part || part.fieldname !== 'file') {
        throw new BorgError('VALIDATION_FAILED', 'send the file as the multipart field "file"');
      }
      return reply.code(201).send(await files.upload(part.file, part.filename));
    },
  );

  app.get(
    '/files/:id',
    {
      schema: {
        tags: ['files'],
        summary: "A file's metadata",
        params: FileParams,
        response: { 200: FileInfo, ...errors },
      },
    },
    async (request) => files.get(request.params.id),
  );

  app.get(
    '/files/:id/download',
    {
      config: { access: 'user-or-runner' },
      schema: {
        tags: ['files'],
        summary: "A file's bytes, always as an attachment; a runner may read only inputs of a task it holds",
        params: FileParams,
      },
    },
    async (request, reply) => {
      const principal = principalOf(request);
      // A runner asking for a file it may not read learns nothing, not even that it exists (A8).
      if (principal.kind === 'runner' && !(await artifacts.runnerMayRead(principal.runnerId!, request.params.id))) {
        throw new BorgError('FILE_NOT_FOUND', `file ${request.params.id} does not exist`);
      }
      const { info, stream } = await files.open(request.params.id);
      return reply
        .header('content-type', 'application/octet-stream')
        .header('content-length', info.size)
        .header('content-disposition', attachmentDisposition(info.filename))
        .header('etag', `"${info.sha256}"`)
        .header('x-content-sha256', info.sha256)
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "default-src 'none'; sandbox")
        .send(stream);
    },
  );

  app.post(
    '/artifacts/upload',
    {
      config: { access: 'runner' },
      schema: {
        tags: ['runner protocol'],
        summary: 'Upload an artifact of a held task (multipart: task_id, path, then file)',
        consumes: ['multipart/form-data'],
        response: { 200: Artifact, 201: Artifact, ...errors },
      },
    },
    async (request, reply) => {
      const runnerId = runnerIdOf(request);
      const fields: Record<string, string> = {};
      let result: Awaited<ReturnType<typeof artifacts.upload>> | undefined;
      for await (const part of request.parts()) {
        if (part.type === 'field') {
          fields[part.fieldname] = String(part.value);
          continue;
        }
        if (part.fieldname !== 'file' || result) {
          part.file.resume(); // not ours to keep
          continue;
        }
        // The fields are checked before a byte of the file is stored.
        const parsed = ArtifactUploadFields.safeParse({ task_id: fields.task_id, path: fields.path });
        if (!parsed.success) {
          part.file.resume();
          const issue = parsed.error.issues[0]!;
          throw new BorgError(
            'VALIDATION_FAILED',
            `${issue.path.join('.') || 'fields'}: ${issue.message} (send task_id and path before file)`,
          );
        }
        result = await artifacts.upload(runnerId, parsed.data.task_id, parsed.data.path, part.file);
      }
      if (!result) throw new BorgError('VALIDATION_FAILED', 'send the artifact as the multipart field "file"');
      return reply.code(result.created ? 201 : 200).send(result.artifact);
    },
  );
};
