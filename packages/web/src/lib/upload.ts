import { BorgApiError, ErrorBody, type FileInfo, FileInfo as FileInfoSchema, routes } from '@borg/protocol';

import { storedToken } from './api.ts';

export type UploadFn = (
  file: File,
  onProgress: (sent: number, total: number) => void,
  signal: AbortSignal,
) => Promise<FileInfo>;

/**
 * Uploads one input file to POST /api/v1/files with XMLHttpRequest, the one browser API that
 * reports upload progress (fetch cannot stream a request body over HTTP/1.1, so the typed
 * client's onChunk does not work in a browser). The answer is checked against the same schema
 * the typed client uses.
 */
export const uploadFile: UploadFn = (file, onProgress, signal) =>
  new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open(routes.uploadFile.method, routes.uploadFile.path);
    const token = storedToken();
    if (token) xhr.setRequestHeader('authorization', `Bearer ${token}`);
    xhr.responseType = 'text';
    xhr.upload.onprogress = (event) => onProgress(event.loaded, event.lengthComputable ? event.total : file.size);
    xhr.onerror = () => reject(new Error(`the upload of ${file.name} failed (network error)`));
    xhr.onabort = () => reject(new DOMException('upload cancelled', 'AbortError'));
    xhr.onload = () => {
      let body: unknown;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = undefined;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        const parsed = FileInfoSchema.safeParse(body);
        if (parsed.success) return resolve(parsed.data);
        return reject(
          new BorgApiError(
            xhr.status,
            'BAD_RESPONSE',
            `unexpected answer from ${routes.uploadFile.method} ${routes.uploadFile.path}`,
          ),
        );
      }
      const error = ErrorBody.safeParse(body);
      reject(
        error.success
          ? new BorgApiError(xhr.status, error.data.error.code, error.data.error.message, error.data.error.details)
          : new BorgApiError(xhr.status, 'UNEXPECTED_RESPONSE', xhr.statusText || 'upload failed'),
      );
    };
    signal.addEventListener('abort', () => xhr.abort(), { once: true });
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
