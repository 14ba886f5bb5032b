import { BorgError } from '../errors.ts';

/** Page cursors are opaque to clients: base64url of the last row's sort key. */
export function encodeCursor(parts: readonly string[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

export function decodeCursor(cursor: string, arity: number): string[] {
  try {
    const parts: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parts) && parts.length === arity && parts.every((p) => typeof p === 'string')) return parts;
  } catch {
    // fall through
  }
  throw new BorgError('VALIDATION_FAILED', 'cursor is not one this server issued; start again without it');
}
