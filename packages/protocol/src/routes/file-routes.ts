import { RAW_RESPONSE, route } from '../route-definition.ts';
import { Artifact, FileInfo, RawArtifactUploadQuery, RawFileUploadQuery } from '../schemas/files.ts';
import { API_PREFIX, idParams } from './api-prefix.ts';

const FileParams = idParams('file');

/** Files: uploads, metadata, downloads, and the artifacts a runner uploads. */
export const fileRoutes = {
  uploadFile: route({
    method: 'POST',
    path: `${API_PREFIX}/files`,
    access: 'submitter',
    tag: 'files',
    summary: 'Upload a file (multipart field `file`), streamed and hashed',
    bodyKind: 'multipart',
    responses: { 201: FileInfo },
    errors: [413, 507],
    audit: 'file.upload',
  }),
  putFile: route({
    method: 'PUT',
    path: `${API_PREFIX}/files`,
    access: 'submitter',
    tag: 'files',
    summary:
      'Upload a file as the raw body (application/octet-stream), its name in `filename`; `size` and `sha256`, when given, are checked',
    query: RawFileUploadQuery,
    bodyKind: 'octet-stream',
    responses: { 201: FileInfo },
    errors: [413, 415, 507],
    audit: 'file.upload',
  }),
  getFile: route({
    method: 'GET',
    path: `${API_PREFIX}/files/:id`,
    access: 'viewer',
    tag: 'files',
    summary: "A file's metadata",
    params: FileParams,
    responses: { 200: FileInfo },
  }),
  downloadFile: route({
    method: 'GET',
    path: `${API_PREFIX}/files/:id/download`,
    access: 'viewer-or-runner',
    tag: 'files',
    summary: "A file's bytes, always as an attachment; a runner may read only inputs of a task it holds",
    params: FileParams,
    responses: { 200: RAW_RESPONSE },
    audit: 'file.download',
  }),
  uploadArtifact: route({
    method: 'POST',
    path: `${API_PREFIX}/artifacts/upload`,
    access: 'runner',
    tag: 'runner protocol',
    summary: 'Upload an artifact of a held task (multipart: task_id, path, then file)',
    bodyKind: 'multipart',
    responses: { 200: Artifact, 201: Artifact },
    errors: [404, 409, 413, 507],
  }),
  putArtifact: route({
    method: 'PUT',
    path: `${API_PREFIX}/artifacts/upload`,
    access: 'runner',
    tag: 'runner protocol',
    summary:
      'Upload an artifact of a held task as the raw body (application/octet-stream): task_id and path in the query; `size` and `sha256`, when given, are checked',
    query: RawArtifactUploadQuery,
    bodyKind: 'octet-stream',
    responses: { 200: Artifact, 201: Artifact },
    errors: [404, 409, 413, 415, 507],
  }),
} as const;
