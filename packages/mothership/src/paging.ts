import { BorgError } from './errors.ts';

/** A keyset page request: how many rows, and the sort key of the last row already seen. */
export interface PageRequest {
  limit: number;
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/**
 * One keyset page: asks `fetch` for one row more than the page holds (so the last page is known
 * without a count), and gives a cursor made of the last row's sort key. Cursors are opaque to
 * clients: base64url of that key, refused when it is not one this server made.
 */
export async function keysetPage<Row, Item>(
  request: PageRequest,
  keyLength: number,
  fetch: (limit: number, after: string[] | undefined) => Promise<Row[]>,
  keyOf: (row: Row) => string[],
  view: (rows: Row[]) => Item[] | Promise<Item[]>,
): Promise<Page<Item>> {
  const after = request.cursor ? decodeCursor(request.cursor, keyLength) : undefined;
  const rows = await fetch(request.limit + 1, after);
  const page = rows.slice(0, request.limit);
  const last = page.at(-1);
  return {
    items: await view(page),
    next_cursor: rows.length > request.limit && last ? encodeCursor(keyOf(last)) : null,
  };
}

function encodeCursor(parts: readonly string[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

function decodeCursor(cursor: string, arity: number): string[] {
  try {
    const parts: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(parts) && parts.length === arity && parts.every((p) => typeof p === 'string')) return parts;
  } catch {
    // fall through
  }
  throw new BorgError('VALIDATION_FAILED', 'cursor is not one this server issued; start again without it');
}
