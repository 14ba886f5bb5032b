import { type AllowedLabels, ANY_LABEL_VALUE, LABEL_KEY_PATTERN, MAX_LABELS } from '@borg/protocol';

/** `k=v` pairs as typed: separated by commas or new lines, blanks skipped, each trimmed. */
function pairs(text: string): Array<{ key: string; value: string; typed: string }> {
  return text
    .split(/[,\n]/)
    .map((p) => p.trim())
    .filter(Boolean)
    .map((typed) => {
      const at = typed.indexOf('=');
      if (at <= 0) throw new Error(`"${typed}" is not key=value`);
      const key = typed.slice(0, at).trim();
      const value = typed.slice(at + 1).trim();
      if (!LABEL_KEY_PATTERN.test(key)) {
        throw new Error(`"${key}" is not a label key (1-63 letters, digits, "_", ".", "-" or "/")`);
      }
      if (value.length > 253) throw new Error(`the value of "${key}" is longer than 253 characters`);
      return { key, value, typed };
    });
}

export type Parsed<T> = { value: T; error?: undefined } | { value?: undefined; error: string };

/**
 * A registration token's allowed labels as typed: `k=v` pairs, a key given twice allows both
 * values, `*` any value. Blank allows any labels (undefined: the request leaves them out, which
 * the mothership reads as "no restriction"; an empty object would allow none but os and arch).
 */
export function parseAllowedLabels(text: string): Parsed<AllowedLabels | undefined> {
  let typed;
  try {
    typed = pairs(text);
  } catch (e) {
    return { error: (e as Error).message };
  }
  if (typed.length === 0) return { value: undefined };
  const values = new Map<string, string[]>();
  for (const { key, value } of typed) {
    const held = values.get(key) ?? [];
    if (!held.includes(value)) held.push(value);
    values.set(key, held);
  }
  if (values.size > MAX_LABELS) return { error: `at most ${MAX_LABELS} label keys` };
  const out: AllowedLabels = {};
  for (const [key, held] of values) {
    if (held.length > 64) return { error: `at most 64 values for "${key}"` };
    out[key] = held.includes(ANY_LABEL_VALUE) ? ANY_LABEL_VALUE : held.length === 1 ? held[0]! : held;
  }
  return { value: out };
}

/** A runner's own labels as typed (`k=v` pairs, one value a key), as `--labels` takes them. */
export function parseRunnerLabels(text: string): Parsed<Record<string, string>> {
  let typed;
  try {
    typed = pairs(text);
  } catch (e) {
    return { error: (e as Error).message };
  }
  const out: Record<string, string> = {};
  for (const { key, value } of typed) {
    if (Object.hasOwn(out, key)) return { error: `"${key}" is given twice; a runner has one value a key` };
    if (value.includes(',')) return { error: `the value of "${key}" has a comma, which --labels cannot carry` };
    out[key] = value;
  }
  if (Object.keys(out).length > MAX_LABELS) return { error: `at most ${MAX_LABELS} labels` };
  return { value: out };
}

/** The allowed labels that name one value (not `*`), as a runner would carry them: `k=v,k2=v2`. */
export function singleValueLabels(allowed: AllowedLabels | undefined): string {
  return Object.entries(allowed ?? {})
    .flatMap(([key, value]) => (typeof value === 'string' && value !== ANY_LABEL_VALUE ? [`${key}=${value}`] : []))
    .join(',');
}

/**
 * The runner's labels the token would refuse at registration, as `k=v` (the mothership's rule
 * in allowed-labels.ts: `os`, `arch` and `gpu=false` need no mention unless the token names them).
 */
export function labelsRefused(labels: Record<string, string>, allowed: AllowedLabels | undefined): string[] {
  if (!allowed) return [];
  return Object.entries(labels)
    .filter(([key, value]) => {
      if (Object.hasOwn(allowed, key)) {
        const values = ([] as string[]).concat(allowed[key]!);
        return !values.includes(ANY_LABEL_VALUE) && !values.includes(value);
      }
      return !(key === 'os' || key === 'arch' || (key === 'gpu' && value === 'false'));
    })
    .map(([key, value]) => `${key}=${value}`);
}

/** A word for a POSIX shell: as is when it is plainly safe, else in single quotes. */
export function shellWord(word: string): string {
  if (/^[A-Za-z0-9_./:=,@+%-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The one line a worker runs to install the solder and register with the token. */
export function installLine({
  origin,
  token,
  labels,
  insecure,
}: {
  origin: string;
  token: string;
  labels?: Record<string, string>;
  insecure?: boolean;
}): string {
  const args = ['--registration-token', shellWord(token)];
  const list = Object.entries(labels ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  if (list) args.push('--labels', shellWord(list));
  if (insecure) args.push('--insecure');
  return `curl -fsSL ${shellWord(`${origin}/install.sh`)} | sh -s -- ${args.join(' ')}`;
}

/** Whether the dashboard's address is plain http: then a worker on another machine needs `--insecure`. */
export function isPlainHttp(origin: string): boolean {
  return origin.startsWith('http:');
}
