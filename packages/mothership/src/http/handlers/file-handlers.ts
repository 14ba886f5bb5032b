import { ArtifactUploadFields } from '@borg/protocol';

import { BorgError } from '../../errors.ts';
import { principalOf, runnerIdOf } from '../auth-hook.ts';
import { rawUpload } from '../raw-body.ts';
import type { Handlers } from '../route-table.ts';
import type { Services } from '../services.ts';

/** `filename*` carries the real name (RFC 5987); `filename` an ASCII stand-in for old clients. */
function attachmentDisposition(name: string): string {
  const ascii = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encoded}`;
}

export function fileHandlers({
  files,
  artifacts,
}: Services): Handlers<'uploadFile' | 'putFile' | 'getFile' | 'downloadFile' | 'uploadArtifact' | 'putArtifact'> {
  return {
    uploadFile: async (request) => {
      const part = await request.file();
      if (!part || part.fieldname !== 'file') {
        throw new BorgError('VALIDATION_FAILED', 'send the file as the multipart field "file"');
      }
      return files.upload(part.file, part.filename);
    },

    putFile: async (request) => {
      const { filename, size, sha256 } = request.query;
      const { source, expected } = rawUpload(request, files.maxUploadBytes, { size, sha256 });
      return files.upload(source, filename, expected);
    },

    getFile: async (request) => files.get(request.params.id),

    downloadFile: async (request, reply) => {
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

    uploadArtifact: async (request, reply) => {
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

    putArtifact: async (request, reply) => {
      const { task_id: taskId, path, size, sha256 } = request.query;
      const { source, expected } = rawUpload(request, files.maxUploadBytes, { size, sha256 });
      const result = await artifacts.upload(runnerIdOf(request), taskId, path, source, expected);
      return reply.code(result.created ? 201 : 200).send(result.artifact);
    },
  };
}
