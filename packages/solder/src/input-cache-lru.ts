/**
 * The books of the input cache's size cap, in memory and without I/O: which files it holds (by
 * sha256, least recently used first), their sizes, which of them running tasks hold (pinned),
 * and the bytes of downloads under way. It only says what to remove; InputCache removes it.
 *
 * A pinned entry is never chosen. So the cache may pass its cap while tasks hold more than it
 * allows (a file larger than the cap included); what is over goes as soon as they let go.
 */
export class CacheLru {
  /** sha256 → bytes, in Map order: least recently used first. */
  private readonly entries = new Map<string, number>();
  /** sha256 → how many running tasks hold it (an entry or a download under way). */
  private readonly pins = new Map<string, number>();
  private storedBytes = 0;
  private reservedBytes = 0;

  constructor(readonly capBytes: number) {}

  /** Bytes of the files held, and of the downloads under way. */
  get usedBytes(): number {
    return this.storedBytes + this.reservedBytes;
  }

  /** The files held, least recently used first. */
  get order(): string[] {
    return [...this.entries.keys()];
  }

  has(sha256: string): boolean {
    return this.entries.has(sha256);
  }

  pin(sha256: string): void {
    this.pins.set(sha256, (this.pins.get(sha256) ?? 0) + 1);
  }

  unpin(sha256: string): void {
    const count = (this.pins.get(sha256) ?? 0) - 1;
    if (count > 0) this.pins.set(sha256, count);
    else this.pins.delete(sha256);
  }

  /** A file now held (or used again): it becomes the most recently used. */
  add(sha256: string, bytes: number): void {
    this.delete(sha256);
    this.entries.set(sha256, bytes);
    this.storedBytes += bytes;
  }

  delete(sha256: string): void {
    const bytes = this.entries.get(sha256);
    if (bytes === undefined) return;
    this.entries.delete(sha256);
    this.storedBytes -= bytes;
  }

  /**
   * Makes room for a download of `bytes`: returns the entries to remove (already off the books),
   * least recently used first, until it fits under the cap or nothing unpinned is left, and
   * counts the download as used until `settle`.
   */
  reserve(bytes: number): string[] {
    const victims = this.shrinkTo(this.capBytes - bytes);
    this.reservedBytes += bytes;
    return victims;
  }

  /** The download of `bytes` ended: held as `sha256` when it succeeded, forgotten when not. */
  settle(bytes: number, sha256?: string): void {
    this.reservedBytes -= bytes;
    if (sha256 !== undefined) this.add(sha256, bytes);
  }

  /** The entries to remove (already off the books) so that what is held fits under the cap again. */
  overflow(): string[] {
    return this.shrinkTo(this.capBytes);
  }

  private shrinkTo(limit: number): string[] {
    const victims: string[] = [];
    for (const [sha256, bytes] of this.entries) {
      if (this.usedBytes <= limit) break;
      if (this.pins.has(sha256)) continue;
      this.entries.delete(sha256);
      this.storedBytes -= bytes;
      victims.push(sha256);
    }
    return victims;
  }
}
