import { api } from './api.ts';

/** Saves bytes under a name through a temporary object URL; nothing is ever rendered. */
export function saveBlob(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Opens text in a tab of its own through a temporary object URL (kept a minute for the tab to load it). */
export function openBlob(blob: Blob): void {
  const url = URL.createObjectURL(blob);
  window.open(url, '_blank');
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/**
 * Downloads a stored file (an input or an artifact). The request carries the token in its
 * header, so it cannot be a plain link; the answer is saved as an attachment, and the
 * mothership also sends it with `content-disposition: attachment` and a sandboxing CSP, so an
 * HTML artifact is never rendered in Borg's origin.
 */
export async function downloadStoredFile(fileId: string, fileName: string): Promise<void> {
  const response = await api().downloadFile(fileId);
  saveBlob(await response.blob(), fileName.split('/').pop() || 'download');
}
