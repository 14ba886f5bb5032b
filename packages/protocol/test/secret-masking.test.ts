import { describe, expect, it } from 'vitest';

import {
  createSecretMasker,
  maskSecrets,
  MAX_HELD_EMPTY_LINES,
  SECRET_MASK,
  secretForms,
  type SecretLineMasker,
} from '../src/index.ts';

const SECRET = 'hunter2-Sw0rdf1sh';
const base64 = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64');
const base64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url');

/** Every line a streaming masker returns for these lines, pushes and flush together. */
function streamed(masker: SecretLineMasker, lines: string[]): string[] {
  return [...lines.flatMap((line) => masker.push(line)), ...masker.flush()];
}

describe('maskSecrets: a value and its encoded forms', () => {
  it('hides every occurrence of the value and leaves the rest of the text as it was', () => {
    expect(maskSecrets(`token=${SECRET}; again: ${SECRET}.`, [SECRET])).toBe('token=***; again: ***.');
  });

  it('leaves ordinary text untouched, character for character', () => {
    const text = 'GET /api?x=1 200 OK\tcafé 😀 \u001b[31mred\u001b[0m {"a":"b"} aGVsbG8= 68656c6c6f\r';
    expect(maskSecrets(text, [SECRET, 'another-secret', 'p@ss w0rd/+='])).toBe(text);
    expect(maskSecrets(text, [])).toBe(text);
    expect(createSecretMasker([]).active).toBe(false);
  });

  it.each([
    ['JSON-escaped', 'a "quoted"\\ value\twith\u0001controls', (v: string) => JSON.stringify(v).slice(1, -1)],
    ['URL-encoded (encodeURIComponent)', 'p@ss w0rd/?&=+é', encodeURIComponent],
    ['URL-encoded with + for a space', 'p@ss w0rd/?&=+é', (v: string) => encodeURIComponent(v).replaceAll('%20', '+')],
    [
      'form-encoded (URLSearchParams)',
      "it's (very) s3cret!",
      (v: string) => new URLSearchParams({ v }).toString().slice(2),
    ],
    ['hex, lower case', 'pässwörd', (v: string) => Buffer.from(v).toString('hex')],
    ['hex, upper case', 'pässwörd', (v: string) => Buffer.from(v).toString('hex').toUpperCase()],
    ['base64', 'pässwörd?>', base64],
    ['base64 without padding', 'pässwörd?>', (v: string) => base64(v).replace(/=+$/, '')],
    ['URL-safe base64', 'pässwörd?>', base64url],
    ['URL-safe base64 with padding', 'pässwörd?>', (v: string) => base64(v).replaceAll('+', '-').replaceAll('/', '_')],
  ])('hides the value %s', (_name, value, encode) => {
    const encoded = encode(value);
    expect(encoded).not.toBe(value);
    expect(maskSecrets(`before ${encoded} after`, [value])).toBe('before *** after');
  });

  it('hides the value inside longer base64 at each of its three alignments, up to the characters it shares', () => {
    const value = new TextEncoder().encode('correct horse battery staple');
    const n = value.length;
    for (let prefix = 0; prefix <= 5; prefix++) {
      for (const suffix of [0, 1, 2, 3]) {
        const data = Buffer.concat([Buffer.alloc(prefix, 0x5a), value, Buffer.alloc(suffix, 0xa5)]);
        for (const encoded of [data.toString('base64'), data.toString('base64url')]) {
          // Characters before `first` or from `end` on hold no bit of the value, or also a neighbour's.
          const first = Math.ceil((8 * prefix) / 6);
          const end = Math.floor((8 * (prefix + n)) / 6);
          const expected = encoded.slice(0, first) + SECRET_MASK + (suffix === 0 ? '' : encoded.slice(end));
          expect(maskSecrets(encoded, ['correct horse battery staple']), `${prefix} + ${suffix}`).toBe(expected);
        }
      }
    }
  });

  it('hides credentials in an HTTP basic authorization header', () => {
    const header = `Authorization: Basic ${base64(`deploy:${SECRET}`)}`;
    // "Om": the encoding of "deploy", then a character that holds 2 bits of ":" and 4 of the value.
    expect(maskSecrets(header, [SECRET])).toBe('Authorization: Basic ZGVwbG95Om***');
  });

  it('lists the forms it searches, with no duplicates', () => {
    const forms = secretForms('abcd');
    expect(new Set(forms).size).toBe(forms.length);
    expect(forms).toEqual(
      expect.arrayContaining(['abcd', '61626364', 'YWJjZA==', 'YWJjZA', 'YWJjZ', 'FiY2Q', 'hYmNk']),
    );
  });
});

describe('maskSecrets: several values', () => {
  it('hides overlapping occurrences as one ***', () => {
    expect(maskSecrets('xx abcdefghi yy', ['abcdef', 'defghi'])).toBe('xx *** yy');
  });

  it('hides a value that holds another whole, whichever comes first in the list', () => {
    expect(maskSecrets('key=supersecret1 and secret1', ['cret', 'supersecret1'])).toBe('key=*** and se***1');
    expect(maskSecrets('key=supersecret1 and secret1', ['supersecret1', 'cret'])).toBe('key=*** and se***1');
  });

  it('hides a value that overlaps itself, and keeps occurrences that only touch apart', () => {
    expect(maskSecrets('aaaaaa!', ['aaaa'])).toBe('***!');
    expect(maskSecrets('tokentoken', ['token'])).toBe('******');
  });

  it('hides one value and the encoded form of another in the same line', () => {
    expect(maskSecrets(`a=${SECRET} b=${base64('second-secret')}`, [SECRET, 'second-secret'])).toBe('a=*** b=***');
  });
});

describe('maskSecrets: values too short to hide', () => {
  it('leaves values under four characters alone, counting characters rather than UTF-16 units', () => {
    expect(maskSecrets('the cat sat on 42 mats', ['cat', '42', 'a', ''])).toBe('the cat sat on 42 mats');
    expect(maskSecrets('I 😀😀 it', ['😀😀'])).toBe('I 😀😀 it');
    expect(maskSecrets('the tiger sat', ['tige'])).toBe('the ***r sat');
  });

  it('does not count line breaks, so a value of line breaks alone is never searched for', () => {
    expect(secretForms('\n\n\n\n')).toEqual([]);
    expect(secretForms('ab\r\nc')).toEqual([]);
  });

  it('takes a lone surrogate in a value without failing', () => {
    expect(maskSecrets('x \ud800abcd y', ['\ud800abcd'])).toBe('x *** y');
  });
});

describe('maskSecrets: values across line breaks', () => {
  it('hides a value printed in two halves on two lines, and keeps the lines', () => {
    expect(maskSecrets(`first ${SECRET.slice(0, 5)}\n${SECRET.slice(5)} last`, [SECRET])).toBe('first ***\n*** last');
  });

  it('hides a multi-line value (a PEM key) printed as it is, line by line, with LF or CRLF', () => {
    const key =
      '-----BEGIN PRIVATE KEY-----\nMIIBVAIBADANBgkqhkiG9w0BAQEFAASC\nAT4wggE6AgEAAkEA\n-----END PRIVATE KEY-----';
    const printed = `loading key\n${key}\ndone`;
    expect(maskSecrets(printed, [key])).toBe('loading key\n***\n***\n***\n***\ndone');
    expect(maskSecrets(printed.replaceAll('\n', '\r\n'), [key])).toBe(
      'loading key\r\n***\r\n***\r\n***\r\n***\r\ndone',
    );
    expect(maskSecrets(`{"key":${JSON.stringify(key)}}`, [key])).toBe('{"key":"***"}');
  });

  it('hides base64 wrapped at 76 columns, as the base64 command prints it', () => {
    const value = 'a long secret value that base64 wraps over more than one line of output';
    const wrapped = base64(value).match(/.{1,76}/g)!;
    expect(wrapped.length).toBeGreaterThan(1);
    expect(maskSecrets(wrapped.join('\n'), [value])).toBe(wrapped.map(() => SECRET_MASK).join('\n'));
  });
});

describe('SecretLineMasker: one stream, line by line', () => {
  const masker = createSecretMasker([SECRET]);

  it('returns a line at once when no value can start in it', () => {
    const lines = masker.lineMasker();
    expect(lines.push('starting.')).toEqual(['starting.']);
    expect(lines.push(`token ${SECRET}!`)).toEqual(['token ***!']);
    expect(lines.push('')).toEqual(['']);
    expect(lines.flush()).toEqual([]);
  });

  it('holds a line whose end could begin a value until the next line settles it', () => {
    const lines = masker.lineMasker();
    expect(lines.push('token hunt')).toEqual([]);
    expect(lines.push('er2-Sw0')).toEqual([]);
    expect(lines.push('rdf1sh, done')).toEqual(['token ***', '***', '***, done']);
  });

  it('returns held lines unchanged as soon as the next line does not go on with the value', () => {
    const lines = masker.lineMasker();
    expect(lines.push('hunt')).toEqual([]);
    expect(lines.push('ing season.')).toEqual(['hunt', 'ing season.']);
  });

  it('returns what it holds on flush, and starts afresh after it', () => {
    const lines = masker.lineMasker();
    expect(lines.push('the end: hunter')).toEqual([]);
    expect(lines.flush()).toEqual(['the end: hunter']);
    expect(lines.push('2-Sw0rdf1sh.')).toEqual(['2-Sw0rdf1sh.']);
  });

  it('skips empty lines inside a value, up to a bound', () => {
    const gap = (n: number) => Array.from({ length: n }, () => '');
    const within = ['hunter2', ...gap(MAX_HELD_EMPTY_LINES), '-Sw0rdf1sh'];
    expect(streamed(masker.lineMasker(), within)).toEqual(['***', ...gap(MAX_HELD_EMPTY_LINES), '***']);
    const beyond = ['hunter2', ...gap(MAX_HELD_EMPTY_LINES + 1), '-Sw0rdf1sh'];
    const lines = masker.lineMasker();
    const released = beyond.slice(0, -1).flatMap((line) => lines.push(line));
    expect(released).toEqual(beyond.slice(0, -1));
  });

  it('passes lines through untouched when it has no value to search for', () => {
    const lines = createSecretMasker(['ab']).lineMasker();
    expect(lines.push('ab')).toEqual(['ab']);
    expect(lines.flush()).toEqual([]);
  });

  it('keeps its promise on random streams: the same lines, each masked as the joined text says, none held longer than needed', () => {
    const secrets = ['s3cr3t-one', 'two', 'X9x9', 'ends-with-x\n-and-more', 'aaaab'];
    const forms = [...new Set(secrets.flatMap(secretForms))];
    const random = seeded(7);
    const pieces = ['lorem ', 'ipsum', 'a', 'X9', '\n', '\r\n', '', ...secrets, ...forms];
    let rounds = { masked: 0, held: 0 };
    for (let round = 0; round < 300; round++) {
      const text = Array.from({ length: 1 + Math.floor(random() * 12) }, () => pick(random, pieces)).join('');
      const lines = splitRandomly(text, random);
      const masker = createSecretMasker(secrets).lineMasker();
      const out: string[] = [];
      lines.forEach((line, i) => {
        const released = masker.push(line);
        if (released.length === 0) rounds = { ...rounds, held: rounds.held + 1 };
        out.push(...released);
        expect(out.length, `${JSON.stringify(lines)} after line ${i}`).toBe(
          releasedAfter(lines.slice(0, i + 1), forms),
        );
      });
      out.push(...masker.flush());
      expect(out, JSON.stringify(lines)).toEqual(referenceMask(lines, forms));
      if (out.some((line) => line.includes(SECRET_MASK))) rounds = { ...rounds, masked: rounds.masked + 1 };
    }
    // The rounds did test something: most hide a value, and lines were held back many times.
    expect(rounds.masked).toBeGreaterThan(200);
    expect(rounds.held).toBeGreaterThan(100);
  });
});

describe('SecretMasker: cost', () => {
  it('masks a 1 MiB line against 64 values in one pass', () => {
    const random = seeded(1);
    const secrets = Array.from({ length: 64 }, (_, i) => `secret-${i}-${randomText(random, 24)}`);
    let started = performance.now();
    const masker = createSecretMasker(secrets);
    const builtMs = performance.now() - started;
    const line = `${randomText(random, 512 * 1024)}${secrets[5]}${randomText(random, 512 * 1024)}${base64(secrets[60]!)}`;
    expect(line.length).toBeGreaterThan(1024 * 1024);
    const timings: number[] = [];
    let masked = '';
    for (let run = 0; run < 5; run++) {
      started = performance.now();
      masked = masker.mask(line);
      timings.push(performance.now() - started);
    }
    console.log(
      `secret masking: built for 64 values in ${builtMs.toFixed(1)} ms; a 1 MiB line masked in ` +
        `${Math.min(...timings).toFixed(1)} ms at best, ${Math.max(...timings).toFixed(1)} ms at worst`,
    );
    expect(masked.length).toBe(line.length - secrets[5]!.length - base64(secrets[60]!).length + 6);
    // A bound that only a lost linear pass would break (it takes a few ms on a quiet machine).
    expect(Math.min(...timings)).toBeLessThan(500);
  });
});

// --- a reference, written the slow and obvious way ------------------------------------------------

/** Where every form occurs in the lines joined (trailing "\r" left out), merged where they overlap. */
function occurrences(lines: string[], forms: string[]): Array<[number, number]> {
  const joined = lines.map((line) => line.replace(/\r$/, '')).join('');
  const found: Array<[number, number]> = [];
  for (const form of forms) {
    for (let at = joined.indexOf(form); at !== -1; at = joined.indexOf(form, at + 1))
      found.push([at, at + form.length]);
  }
  found.sort((a, b) => a[0] - b[0]);
  const merged: Array<[number, number]> = [];
  for (const [start, end] of found) {
    const last = merged.at(-1);
    if (last && start < last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

function referenceMask(lines: string[], forms: string[]): string[] {
  const found = occurrences(lines, forms);
  let start = 0;
  return lines.map((line) => {
    const end = start + line.replace(/\r$/, '').length;
    let text = '';
    let cursor = 0;
    for (const [from, to] of found) {
      const a = Math.max(from, start) - start;
      const b = Math.min(to, end) - start;
      if (b <= a) continue;
      text += line.slice(cursor, a) + SECRET_MASK;
      cursor = b;
    }
    start = end;
    return text + line.slice(cursor);
  });
}

/** How many of these lines a masker may have returned: those no form could still go on from. */
function releasedAfter(lines: string[], forms: string[]): number {
  const joined = lines.map((line) => line.replace(/\r$/, '')).join('');
  let reach = 0;
  for (const form of forms) {
    for (let d = Math.min(form.length - 1, joined.length); d > reach; d--) {
      if (joined.endsWith(form.slice(0, d))) reach = d;
    }
  }
  let end = 0;
  let count = 0;
  for (const line of lines) {
    end += line.replace(/\r$/, '').length;
    if (end > joined.length - reach) break;
    count++;
  }
  return count;
}

function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

function pick<T>(random: () => number, items: T[]): T {
  return items[Math.floor(random() * items.length)]!;
}

function randomText(random: () => number, length: number): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/= .,:;-_"{}';
  let text = '';
  for (let i = 0; i < length; i++) text += alphabet[Math.floor(random() * alphabet.length)];
  return text;
}

/** The text's own lines, each cut again at random points, as a stream may deliver them. */
function splitRandomly(text: string, random: () => number): string[] {
  return text.split('\n').flatMap((line) => {
    const cuts: string[] = [];
    let rest = line;
    while (rest.length > 1 && random() < 0.4) {
      const at = 1 + Math.floor(random() * (rest.length - 1));
      cuts.push(rest.slice(0, at));
      rest = rest.slice(at);
    }
    return [...cuts, rest];
  });
}
