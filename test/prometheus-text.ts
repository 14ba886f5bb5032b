/**
 * A strict reader of the Prometheus text exposition format (version 0.0.4), for tests that
 * scrape /metrics: every line must be a HELP, a TYPE or a sample, every sample must belong to a
 * family with both, and histograms must be consistent. Anything else throws, naming the line.
 */

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  samples: Sample[];
}

const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const SAMPLE_LINE = new RegExp(`^(${NAME})(?:\\{(.*)\\})? (\\S+)(?: -?\\d+)?$`);
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;

/** Like Prometheus's own reader (Go's ParseFloat): Inf and NaN in any case (prom-client writes `Nan`). */
function parseValue(text: string, line: string): number {
  const word = text.toLowerCase();
  if (word === '+inf' || word === 'inf') return Infinity;
  if (word === '-inf') return -Infinity;
  if (word === 'nan') return NaN;
  const value = Number(text);
  if (Number.isNaN(value)) throw new Error(`not a number in: ${line}`);
  return value;
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const match = LABEL.exec(text);
    if (!match) throw new Error(`bad labels in: ${line}`);
    labels[match[1]!] = match[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
  }
  return labels;
}

/** The family a sample belongs to: histogram and summary samples carry a suffix. */
function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  const exact = families.get(sample);
  if (exact) return exact;
  const base = sample.replace(/_(bucket|sum|count)$/, '');
  const family = families.get(base);
  return family && (family.type === 'histogram' || family.type === 'summary') ? family : undefined;
}

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const comment = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (comment) {
      const [, kind, name, rest] = comment as unknown as [string, string, string, string];
      const family = families.get(name) ?? { name, help: '', type: 'untyped' as const, samples: [] };
      if (kind === 'HELP') family.help = rest;
      else if (['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest))
        family.type = rest as Family['type'];
      else throw new Error(`unknown metric type in: ${line}`);
      families.set(name, family);
      continue;
    }
    if (line.startsWith('#')) continue; // other comments are allowed by the format
    const match = SAMPLE_LINE.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const family = familyOf(match[1]!, families);
    if (!family) throw new Error(`sample before its HELP/TYPE: ${line}`);
    family.samples.push({
      name: match[1]!,
      labels: match[2] ? parseLabels(match[2], line) : {},
      value: parseValue(match[3]!, line),
    });
  }
  for (const family of families.values()) {
    if (!family.help) throw new Error(`${family.name} has no HELP`);
    if (family.type === 'histogram') checkHistogram(family);
  }
  return families;
}

/** Buckets rise with `le`, never fall, and end at +Inf equal to _count, per label set. */
function checkHistogram(family: Family): void {
  const series = new Map<string, Sample[]>();
  for (const sample of family.samples.filter((s) => s.name.endsWith('_bucket'))) {
    const { le, ...rest } = sample.labels;
    if (le === undefined) throw new Error(`${family.name} bucket without le`);
    const key = JSON.stringify(rest);
    series.set(key, [...(series.get(key) ?? []), sample]);
  }
  for (const [key, buckets] of series) {
    const les = buckets.map((b) => parseValue(b.labels.le!, b.labels.le!));
    for (let i = 1; i < buckets.length; i++) {
      if (les[i]! <= les[i - 1]! || buckets[i]!.value < buckets[i - 1]!.value) {
        throw new Error(`${family.name}${key}: buckets out of order`);
      }
    }
    const count = family.samples.find((s) => s.name.endsWith('_count') && JSON.stringify(s.labels) === key);
    if (les.at(-1) !== Infinity || buckets.at(-1)!.value !== count?.value) {
      throw new Error(`${family.name}${key}: the +Inf bucket is not the count`);
    }
  }
}

/** The value of one sample: the family's sample whose labels include `labels`; undefined if none. */
export function sampleValue(
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const family of families.values()) {
    for (const sample of family.samples) {
      if (sample.name !== name) continue;
      if (Object.entries(labels).every(([k, v]) => sample.labels[k] === v)) return sample.value;
    }
  }
  return undefined;
}
