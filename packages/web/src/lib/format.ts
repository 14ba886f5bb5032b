/** Times and sizes as people read them. Every function takes what the API sends. */

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  return new Date(iso).toLocaleString();
}

/** "3 s", "4 min 2 s", "2 h 5 min": enough precision to tell attempts apart. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds < 10) return `${Math.round(seconds * 10) / 10} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${Math.round(seconds % 60)} s`;
  const h = Math.floor(m / 60);
  return h < 48 ? `${h} h ${m % 60} min` : `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** The time between two instants, or from one until now when the second is missing. */
export function between(from: string | null, to: string | null, now = Date.now()): string {
  if (!from) return '—';
  const end = to ? new Date(to).getTime() : now;
  return formatDuration((end - new Date(from).getTime()) / 1000);
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

export function pairs(record: Record<string, string>): string {
  return Object.entries(record)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

/** Megabytes as the API counts them (MiB, as nvidia-smi does): "512 MiB", "40 GiB". */
export function formatMegabytes(mb: number): string {
  return formatBytes(Math.round(mb * 1024 * 1024));
}
