/** Times and sizes as people read them. Every function takes what the API sends. */

/** The exact time in the viewer's locale and time zone ("03/12/2026, 14:05:09"). */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  return new Date(iso).toLocaleString();
}

/**
 * How long ago an instant was, in the words of formatDuration's units, to the unit that counts:
 * "just now", "42 s ago", "3 min ago", "5 h ago", "2 d ago"; a time ahead (clock skew) is "just
 * now"; past 30 days the date itself.
 */
export function relativeTime(iso: string, now = Date.now()): string {
  const seconds = Math.floor((now - new Date(iso).getTime()) / 1000);
  if (!Number.isFinite(seconds)) return '—';
  if (seconds < 5) return 'just now';
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  const days = Math.floor(hours / 24);
  return days <= 30 ? `${days} d ago` : new Date(iso).toLocaleDateString();
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

/**
 * A whole number of seconds as a duration a person types, in the units the CLI's `--timeout`
 * and the new-job form take: 90 → "90s", 600 → "10m", 5400 → "1h30m", 86400 → "1d".
 */
export function durationInput(seconds: number): string {
  const units = [
    ['d', 86_400],
    ['h', 3600],
    ['m', 60],
    ['s', 1],
  ] as const;
  // Below ten minutes seconds read better than minutes and seconds ("90s", not "1m30s").
  if (seconds < 600 && seconds % 60 !== 0) return `${seconds}s`;
  let left = seconds;
  let text = '';
  for (const [unit, size] of units) {
    const n = Math.floor(left / size);
    if (n > 0) text += `${n}${unit}`;
    left -= n * size;
  }
  return text || '0s';
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/**
 * A duration as typed (what durationInput writes, and the CLI's `--timeout` takes): "90" or
 * "90s", "10m", "2h", "1h30m", "2d", spaces allowed between parts. Blank: undefined (none);
 * anything else: NaN.
 */
export function parseDuration(text: string): number | undefined {
  const typed = text.trim().toLowerCase().replace(/\s+/g, '');
  if (typed === '') return undefined;
  if (/^\d+$/.test(typed)) return Number(typed);
  const parts = [...typed.matchAll(/(\d+)([smhd])/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== typed) return NaN;
  return parts.reduce((sum, [, n, unit]) => sum + Number(n) * UNIT_SECONDS[unit!]!, 0);
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
